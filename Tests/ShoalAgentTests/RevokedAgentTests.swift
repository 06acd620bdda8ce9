import Foundation
import ShoalAgent
import ShoalCore
import Testing

/// Issue #13: a revoked agent backs off instead of retrying about once a second forever.
@Suite(.serialized) struct RevokedAgentTests {
    @Test func refusalsAreRecognisedAndOrdinaryFailuresAreNot() {
        #expect(ManagerRefusal.reason(of: ClientError.http(status: 401, reason: "revoked")) != nil)
        #expect(ManagerRefusal.reason(of: ClientError.http(status: 403, reason: "not a manager")) != nil)
        #expect(ManagerRefusal.reason(of: ClientError.http(status: 404, reason: "no such task")) == nil)
        #expect(ManagerRefusal.reason(of: ClientError.http(status: 503, reason: "busy")) == nil)
        #expect(ManagerRefusal.reason(of: ClientError.connect("connection refused")) == nil)
        #expect(
            ManagerRefusal.reason(
                of: ClientError.tls("sslError([error:10000418:SSL routines:TLSV1_ALERT_CERTIFICATE_REVOKED])")
            )
                != nil)
        #expect(ManagerRefusal.reason(of: ClientError.tls("handshake timed out")) == nil)
    }

    @Test func holdsDoubleUpToTheCapAndOneHoldCountsOnce() {
        var refusal = ManagerRefusal()
        let start = Date(timeIntervalSince1970: 0)
        var now = start
        var holds: [Double] = []
        for _ in 0..<9 {
            let hold = refusal.refused("manager answered 401", now: now) ?? -1
            holds.append(hold)
            // A second loop failing inside the hold extends nothing.
            #expect(refusal.refused("manager answered 401", now: now + 1) == nil)
            #expect(refusal.remaining(now: now + 1) == hold - 1)
            now += hold
        }
        #expect(holds == [5, 10, 20, 40, 80, 160, 300, 300, 300])
        refusal.accepted()
        #expect(refusal.remaining(now: now) == 0)
        #expect(refusal.refused("manager answered 401", now: now) == 5)
    }

    @Test func aRemovedNodesAgentWaitsOutTheHoldAndSaysWhy() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let agent = try await cluster.joinedAgent("gone")
        let nodeID = try #require(await agent.currentClient?.nodeID)
        let loops = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await agent.heartbeatLoop(period: 1) }
                group.addTask { await agent.feedLoop() }
            }
        }
        defer { loops.cancel() }
        try await cluster.waitUntil { await agent.status.lastRevision != nil }

        let removed = try await cluster.admin.request(.DELETE, "/v1/nodes/\(nodeID)?force=true")
        #expect(removed.status == 204)
        try await cluster.waitUntil { await agent.status.refusedAttempts > 0 }
        // Without the hold, 1 s heartbeats and the feed's 0.5, 1, 2, 4 s backoff make about 12
        // refused attempts in 8 s; with it: the first, then one per loop when the 5 s hold ends.
        try await Task.sleep(for: .seconds(8))
        let status = await agent.status
        #expect(status.refusedAttempts <= 3, "\(status.refusedAttempts) refused attempts in 8 s")
        let reason = try #require(status.refusal)
        #expect(reason.contains("heartbeat") || reason.contains("feed"), "\(reason)")
        print("revoked agent: \(status.refusedAttempts) refused attempts in 8 s; last: \(reason)")
    }
}
