import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import ShoalPKI

/// Real TLS 1.3 handshakes over loopback between NIO servers and clients using issued certificates.
@Suite struct MutualTLSTests {
    let cluster: Cluster

    init() throws {
        cluster = try Cluster()
    }

    func startManager(acceptedRoles: Set<NodeRole> = Set(NodeRole.allCases)) async throws -> TLSServerFixture
    {
        let events = ServerEvents()
        let server = try MutualTLSServer(
            credentials: cluster.manager, revocations: cluster.revocations, acceptedRoles: acceptedRoles,
            onRefused: { events.refused($0) })
        return try await TLSServerFixture.start({ server.makeHandler() }, events: events)
    }

    func client(_ credentials: NodeCredentials, address: String = "127.0.0.1", refusals: ServerEvents? = nil)
        throws -> MutualTLSClient
    {
        try MutualTLSClient(
            credentials: credentials, managerAddress: address, onRefused: { refusals?.refused($0) })
    }

    @Test func workerAndManagerCompleteAMutualTLS13Handshake() async throws {
        let server = try await startManager()
        let node = try cluster.node("node-1")
        let tls = try client(node)
        let outcome = try await server.exchange(tls: { try tls.makeHandler() })
        try await server.stop()
        #expect(outcome.received == "hello node-1 worker tlsv13\n")
        #expect(outcome.error == nil)
        #expect(server.events.refusals.isEmpty)
    }

    @Test func clientCertificateFromAnotherCAIsRefused() async throws {
        let server = try await startManager()
        let other = try Cluster(clusterID: cluster.ca.clusterID)
        let intruder = try other.node("node-1")
        // The intruder trusts our CA (it is public) so only the server's check can stop it.
        let config = try Self.clientConfiguration(presenting: intruder, trusting: cluster.ca)
        let context = try NIOSSLContext(configuration: config)
        let outcome = try await server.exchange(tls: { try Self.acceptAnyServer(context) })
        try await server.events.waitUntil { !$0.refusals.isEmpty }
        try await server.stop()
        #expect(outcome.received == "")
        #expect(server.events.greetings.isEmpty)
        #expect(server.events.refusals == [.otherCA(issuer: other.ca.certificate.subject.description)])
    }

    @Test func expiredClientCertificateIsRefused() async throws {
        let server = try await startManager()
        let old = try cluster.node("old", now: Date() - 200 * day, validity: 90 * day)
        let tls = try client(old)
        let outcome = try await server.exchange(tls: { try tls.makeHandler() })
        try await server.events.waitUntil { !$0.refusals.isEmpty }
        try await server.stop()
        #expect(outcome.received == "")
        #expect(server.events.refusals == [.expired(notValidAfter: old.certificate.notValidAfter)])
    }

    @Test func revokedNodeIsRefusedFromTheNextHandshakeOn() async throws {
        let server = try await startManager()
        let node = try cluster.node("node-9")
        let tls = try client(node)
        let before = try await server.exchange(tls: { try tls.makeHandler() })
        #expect(before.received == "hello node-9 worker tlsv13\n")

        cluster.revocations.revoke(nodeID: "node-9")
        let after = try await server.exchange(tls: { try tls.makeHandler() })
        try await server.events.waitUntil { !$0.refusals.isEmpty }
        try await server.stop()
        #expect(after.received == "")
        #expect(server.events.refusals == [.revoked(nodeID: "node-9", serial: node.identity.serial)])
    }

    @Test func clientWithoutCertificateIsRefused() async throws {
        let server = try await startManager()
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv13
        config.trustRoots = .certificates([
            try NIOSSLCertificate(bytes: cluster.ca.certificateDER, format: .der)
        ])
        let context = try NIOSSLContext(configuration: config)
        let outcome = try await server.exchange(tls: { try Self.acceptAnyServer(context) })
        try await server.events.waitUntil { !$0.errors.isEmpty }
        try await server.stop()
        #expect(outcome.received == "")
        #expect(server.events.greetings.isEmpty)
        // BoringSSL refuses before our callback runs: no certificate, nothing to verify.
        #expect(server.events.refusals.isEmpty)
        #expect(server.events.errors.contains { $0.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") })
    }

    @Test func plainHTTPClientIsRejected() async throws {
        let server = try await startManager()
        let outcome = try await server.exchange(
            tls: nil, send: "GET /v1/feed HTTP/1.1\r\nHost: manager\r\n\r\n")
        try await server.events.waitUntil { !$0.errors.isEmpty }
        try await server.stop()
        // The connection is closed without any HTTP answer and without the greeting.
        #expect(!outcome.received.contains("HTTP/"))
        #expect(!outcome.received.contains("hello"))
        #expect(server.events.greetings.isEmpty)
        #expect(
            server.events.errors.contains {
                $0.contains("WRONG_VERSION_NUMBER") || $0.contains("handshakeFailed")
            })
    }

    @Test func tls12OnlyClientIsRejected() async throws {
        let server = try await startManager()
        let node = try cluster.node("old-client")
        var config = try Self.clientConfiguration(presenting: node, trusting: cluster.ca)
        config.minimumTLSVersion = .tlsv12
        config.maximumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: config)
        let outcome = try await server.exchange(tls: { try Self.acceptAnyServer(context) })
        try await server.events.waitUntil { !$0.errors.isEmpty }
        try await server.stop()
        #expect(outcome.received == "")
        #expect(outcome.error != nil)
        #expect(server.events.greetings.isEmpty)
    }

    @Test func endpointRestrictedToAdminsRefusesAWorker() async throws {
        let server = try await startManager(acceptedRoles: [.admin])
        let worker = try cluster.node("w")
        let admin = try cluster.ca.issueCredentials(nodeID: "admin", role: .admin)
        let workerTLS = try client(worker)
        let adminTLS = try client(admin)
        let refused = try await server.exchange(tls: { try workerTLS.makeHandler() })
        let accepted = try await server.exchange(tls: { try adminTLS.makeHandler() })
        try await server.stop()
        #expect(refused.received == "")
        #expect(server.events.refusals == [.roleNotAccepted(role: .worker, accepted: [.admin])])
        #expect(accepted.received == "hello admin admin tlsv13\n")
    }

    @Test func clientRefusesAManagerThatDoesNotOwnTheDialledAddress() async throws {
        let server = try await startManager()
        let node = try cluster.node("n")
        let clientEvents = ServerEvents()
        // The manager's certificate names 127.0.0.1; the node believes it dialled 127.0.0.2.
        let tls = try client(node, address: "127.0.0.2", refusals: clientEvents)
        let outcome = try await server.exchange(tls: { try tls.makeHandler() })
        try await server.stop()
        #expect(outcome.received == "")
        #expect(outcome.error != nil)
        #expect(clientEvents.refusals == [.serverNameMismatch(expected: "127.0.0.2", found: ["127.0.0.1"])])
    }

    @Test func clientRefusesAWorkerPosingAsManager() async throws {
        // A worker certificate with the right address is still not a manager.
        let impostor = try cluster.ca.issueCredentials(nodeID: "w", role: .worker, ipAddresses: ["127.0.0.1"])
        let events = ServerEvents()
        let server = try MutualTLSServer(credentials: impostor, revocations: RevocationList())
        let fixture = try await TLSServerFixture.start({ server.makeHandler() }, events: events)
        let clientEvents = ServerEvents()
        let tls = try client(try cluster.node("n"), refusals: clientEvents)
        let outcome = try await fixture.exchange(tls: { try tls.makeHandler() })
        try await fixture.stop()
        #expect(outcome.received == "")
        #expect(clientEvents.refusals == [.roleNotAccepted(role: .worker, accepted: [.manager])])
    }

    @Test func configurationsAreTLS13AndTrustOnlyTheClusterCA() throws {
        let server = try ShoalTLS.serverConfiguration(cluster.manager)
        #expect(server.minimumTLSVersion == .tlsv13)
        #expect(server.certificateVerification == .noHostnameVerification)
        let ca = try NIOSSLCertificate(bytes: cluster.ca.certificateDER, format: .der)
        #expect(server.trustRoots == .certificates([ca]))
        let client = try ShoalTLS.clientConfiguration(try cluster.node("n"))
        #expect(client.minimumTLSVersion == .tlsv13)
        #expect(client.trustRoots == .certificates([ca]))
        #expect(client.certificateChain.count == 1)
    }

    // MARK: helpers for clients that do not use MutualTLSClient

    static func clientConfiguration(presenting node: NodeCredentials, trusting ca: ClusterCA) throws
        -> TLSConfiguration
    {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv13
        config.certificateChain = [
            .certificate(try NIOSSLCertificate(bytes: node.certificate.derBytes(), format: .der))
        ]
        config.privateKey = .privateKey(
            try NIOSSLPrivateKey(bytes: Array(node.privateKey.serializeAsPEM().pemString.utf8), format: .pem))
        config.trustRoots = .certificates([try NIOSSLCertificate(bytes: ca.certificateDER, format: .der)])
        return config
    }

    /// A client that does not check the server: these tests are about the server refusing the client.
    static func acceptAnyServer(_ context: NIOSSLContext) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(
            context: context, serverHostname: nil,
            customVerificationCallback: { _, promise in promise.succeed(.certificateVerified) })
    }
}
