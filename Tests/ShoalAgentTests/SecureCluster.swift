import Foundation
import Logging
import ShoalAgent
import ShoalCore
import ShoalModel
import ShoalPKI
import Synchronization

/// A secure manager in-process on 127.0.0.1 (ports 0): mutual TLS API, join listener, admin socket.
final class SecureCluster: Sendable {
    let directory: String
    let manager: Manager
    let security: ClusterSecurity
    let endpoints: SecureManagerServer.Endpoints
    private let server: Task<Void, any Error>
    private let box: Box

    private init(
        directory: String, manager: Manager, security: ClusterSecurity,
        endpoints: SecureManagerServer.Endpoints,
        server: Task<Void, any Error>, box: Box
    ) {
        self.directory = directory
        self.manager = manager
        self.security = security
        self.endpoints = endpoints
        self.server = server
        self.box = box
    }

    final class Box: Sendable {
        let refused = Mutex<[PeerVerificationError]>([])
    }

    static func start(
        validity: TimeInterval = ClusterCA.defaultNodeValidity, trustNodeAddresses: Bool = false,
        limits: (api: ConnectionLimits, join: ConnectionLimits)? = nil, feedKeepaliveSeconds: Double = 0.5
    )
        async throws -> SecureCluster
    {
        let directory = NSTemporaryDirectory() + "shoal-sec-\(getpid())-\(UUID().uuidString)"
        try ClusterSecurity.initialize(dataDir: directory, advertiseAddress: "127.0.0.1")
        let security = try ClusterSecurity(dataDir: directory, nodeValidity: validity)
        let store = try SQLiteStore(directory: nil)
        var config = ManagerConfig(feedKeepaliveSeconds: feedKeepaliveSeconds, tickSeconds: 1)
        config.trustDeclaredNodeAddresses = trustNodeAddresses
        let manager = Manager(store: store, config: config)
        try await manager.start()
        let box = Box()
        var logger = Logger(label: "test.manager")
        logger.logLevel = .critical
        var server = SecureManagerServer(
            manager: manager, security: security, apiHost: "127.0.0.1", apiPort: 0, joinHost: "127.0.0.1",
            joinPort: 0, logger: logger, onRefused: { error in box.refused.withLock { $0.append(error) } })
        if let limits { (server.apiLimits, server.joinLimits) = limits }
        let (stream, continuation) = AsyncStream<SecureManagerServer.Endpoints>.makeStream()
        let task = Task { try await server.run { continuation.yield($0) } }
        var bound: SecureManagerServer.Endpoints?
        for await endpoints in stream {
            bound = endpoints
            break
        }
        guard let bound else { throw ClientError.connect("the server did not start") }
        return SecureCluster(
            directory: directory, manager: manager, security: security, endpoints: bound, server: task,
            box: box)
    }

    func stop() {
        server.cancel()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var joinAddress: String { "127.0.0.1:\(endpoints.joinPort)" }
    var apiAddress: String { "127.0.0.1:\(endpoints.apiPort)" }
    var admin: HTTPClient { HTTPClient(.unixSocket(path: endpoints.socketPath)) }
    var workerToken: String { security.token(for: .worker).description }

    var refusals: [PeerVerificationError] { box.refused.withLock { $0 } }

    func revision() async -> UInt64 { await manager.store.current().revision }
    var state: ClusterState { get async { await manager.store.current().state } }

    /// Server-side events can trail the client's view by a moment.
    func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<1000 where !(await condition()) {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A fresh data directory for an agent.
    func agentDirectory(_ name: String) -> String { directory + "/agents/" + name }

    /// Joins and registers a node; returns its agent.
    func joinedAgent(_ name: String, address: String = "127.0.0.1", token: String? = nil) async throws
        -> Agent
    {
        var configuration = Agent.Configuration(
            dataDir: agentDirectory(name), joinAddress: joinAddress, token: token ?? workerToken, name: name,
            address: IPv4Address(address) ?? IPv4Address(0))
        configuration.renewalCheckSeconds = 3600
        var logger = Logger(label: "test.agent")
        logger.logLevel = .critical
        let agent = Agent(configuration: configuration, logger: logger)
        try await agent.start()
        return agent
    }
}
