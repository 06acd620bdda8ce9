import Foundation
import NIOHTTP1
import ShoalModel
import ShoalPKI
import X509

/// A node's mutual TLS client of the manager's API: register, heartbeat, task reports, the feed,
/// certificate renewal. Build a new one after a renewal: open connections keep their session.
public struct ControlPlaneClient: Sendable {
    public let credentials: NodeCredentials
    public let managerAddress: String
    public let http: HTTPClient
    /// Heartbeats and task reports share one kept-alive connection to the manager.
    let reports: KeptAliveConnection

    public init(credentials: NodeCredentials, managerAddress: String) throws(JoinError) {
        guard let (host, port) = Address.split(managerAddress) else { throw .badAddress(managerAddress) }
        let tls: MutualTLSClient
        do {
            tls = try MutualTLSClient(credentials: credentials, managerAddress: host)
        } catch {
            throw .credentials(error)
        }
        self.credentials = credentials
        self.managerAddress = managerAddress
        http = HTTPClient(.tls(host: host, port: port, handler: { try tls.makeHandler() }))
        reports = KeptAliveConnection(http)
    }

    public var nodeID: String { credentials.identity.nodeID }

    static func encode(_ value: some Encodable) throws(ClientError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw .protocolError("cannot encode \(type(of: value)): \(error)")
        }
    }

    public func register(name: String, address: IPv4Address) async throws(ClientError) -> Node {
        let body = try Self.encode(NodeRegistration(id: nodeID, name: name, address: address))
        return try await http.request(.POST, "/v1/nodes/register", body: body).decode(Node.self)
    }

    public func heartbeat() async throws(ClientError) -> HeartbeatResponse {
        try await reports.request(.POST, "/v1/nodes/\(nodeID)/heartbeat").decode(HeartbeatResponse.self)
    }

    public func reportTask(
        _ taskID: String, state: TaskState, message: String? = nil, health: TaskHealth? = nil
    )
        async throws(ClientError)
        -> ClusterTask
    {
        let body = try Self.encode(
            TaskStatusReport(nodeID: nodeID, state: state, message: message, health: health))
        return try await reports.request(.POST, "/v1/tasks/\(taskID)/status", body: body).decode(
            ClusterTask.self)
    }

    /// Follows this node's feed until the stream ends; `since` resumes after a revision.
    public func feed(since: UInt64?, onMessage: @escaping @Sendable (FeedMessage) async -> Void)
        async throws(ClientError) -> Int
    {
        let path = "/v1/nodes/\(nodeID)/feed" + (since.map { "?since=\($0)" } ?? "")
        return try await http.stream(path) { line in
            guard let message = try? JSONDecoder().decode(FeedMessage.self, from: Data(line.utf8)) else {
                return
            }
            await onMessage(message)
        }
    }

    /// A new key and certificate (same node id and role) over the current mutual TLS identity.
    public func renew() async throws -> NodeCredentials {
        let csr = try NodeCSR.generate(requestedNodeID: nodeID)
        let body = try Self.encode(RenewRequest(csr: try csr.pem()))
        let issued = try await http.request(.POST, "/v1/nodes/\(nodeID)/renew", body: body)
            .decode(IssuedCertificate.self)
        return try csr.credentials(
            certificate: try Certificate(pemEncoded: issued.certificate),
            caCertificate: credentials.caCertificate)
    }
}
