import Foundation
import Logging
import ShoalAgent
import ShoalModel
import Testing

@Suite struct FeedClientTests {
    /// The test manager sends a keep-alive every 4 s; a 1.5 s watchdog finds the stream silent
    /// between two of them (wide enough that a TLS handshake on a loaded machine does not trip it), drops the connection and resumes with `since`: the feed is followed
    /// over several connections and the view keeps its revision.
    @Test func aSilentFeedIsDroppedAndResumed() async throws {
        let cluster = try await SecureCluster.start(feedKeepaliveSeconds: 4)
        defer { cluster.stop() }
        var configuration = Agent.Configuration(
            dataDir: cluster.agentDirectory("w1"), joinAddress: cluster.joinAddress,
            token: cluster.workerToken,
            name: "w1", address: IPv4Address(0x7f00_0001))
        configuration.feedWatchdogSeconds = 1.5
        var logger = Logger(label: "test.agent")
        logger.logLevel = .critical
        let agent = Agent(configuration: configuration, logger: logger)
        try await agent.start()
        let feed = Task { await agent.feedLoop() }
        defer { feed.cancel() }
        try await cluster.waitUntil { await agent.status.feedConnections >= 3 }
        let status = await agent.status
        #expect(status.feedReconnects.contains { $0.contains("watchdog") })
        #expect(status.lastRevision != nil)
        // Each resume names the revision and the store, so only the first connection got a COMPLETE.
        #expect(status.feedCompletes == 1)
        // A change made now still arrives on a later connection.
        let created = try await cluster.admin.request(
            .POST, "/v1/services", body: Array(#"{"name":"g","mode":"global","command":["x"]}"#.utf8))
        #expect(created.status == 201)
        let target = await cluster.revision()
        try await cluster.waitUntil { (await agent.status.lastRevision ?? 0) >= target }
    }
}
