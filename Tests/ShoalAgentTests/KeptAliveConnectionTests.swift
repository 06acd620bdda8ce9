import ShoalCore
import Testing

@testable import ShoalAgent

/// Issue #9: heartbeats and task reports reuse one mutual-TLS connection to the manager, and a
/// connection the manager closed while idle is replaced without the caller seeing an error.
@Suite struct KeptAliveConnectionTests {
    /// A manager with these API limits and a joined node's own client: the agent's loop
    /// heartbeats on the client it holds, so connection counts would include its calls.
    static func clusterAndClient(_ name: String, api: ConnectionLimits? = nil) async throws
        -> (SecureCluster, ControlPlaneClient)
    {
        let join = ConnectionLimits(perListener: 30, perSource: 10, handshakeSeconds: 3)
        let cluster = try await SecureCluster.start(limits: api.map { ($0, join) })
        let joined = try #require(await cluster.joinedAgent(name).currentClient)
        let client = try ControlPlaneClient(
            credentials: joined.credentials, managerAddress: joined.managerAddress)
        return (cluster, client)
    }

    @Test func heartbeatsShareOneConnectionAndOutliveTheManagerClosingIt() async throws {
        // Slack for a loaded machine: 1 s idle between heartbeats made back to back (0.4 s was
        // crossed at load 14-22 and the test failed).
        let api = ConnectionLimits(perListener: 200, perSource: 100, handshakeSeconds: 3, idleSeconds: 1)
        let (cluster, client) = try await Self.clusterAndClient("k1", api: api)
        defer { cluster.stop() }

        for _ in 0..<5 { #expect(try await client.heartbeat().state == .ready) }
        #expect(await client.reports.connectionsOpened == 1)

        // The manager closes the idle connection; the next heartbeat opens a new one and succeeds.
        try await Task.sleep(for: .milliseconds(2500))
        #expect(try await client.heartbeat().state == .ready)
        #expect(await client.reports.connectionsOpened == 2)

        // Concurrent calls wait their turn on the one connection.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try await client.heartbeat() } }
            try await group.waitForAll()
        }
        #expect(await client.reports.connectionsOpened == 2)
    }

    @Test func aConnectionOutlivesTheManagersHandshakeDeadline() async throws {
        // 1.5 s: a TLS handshake at load 14-22 took longer than 0.5 s and the deadline closed it.
        let api = ConnectionLimits(perListener: 200, perSource: 100, handshakeSeconds: 1.5)
        let (cluster, client) = try await Self.clusterAndClient("k3", api: api)
        defer { cluster.stop() }
        #expect(try await client.heartbeat().state == .ready)
        try await Task.sleep(for: .milliseconds(3000))
        #expect(try await client.heartbeat().state == .ready)
        #expect(await client.reports.connectionsOpened == 1, "the manager closed a handshaken connection")
    }

    @Test func aStoppedManagerIsReportedNotRetriedForever() async throws {
        let (cluster, client) = try await Self.clusterAndClient("k2")
        #expect(try await client.heartbeat().state == .ready)
        cluster.stop()
        // The stop is graceful: an open connection may be served for up to 1 s (GracefulServers).
        try await Task.sleep(for: .milliseconds(1500))
        await #expect(throws: ClientError.self) { _ = try await client.heartbeat() }
    }
}
