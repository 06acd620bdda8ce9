import Foundation
import ShoalAgent
import ShoalModel
import Testing

@Suite struct FeedFollowerTests {
    func line(_ message: FeedMessage) throws -> String {
        String(decoding: try JSONEncoder().encode(message), as: UTF8.self)
    }

    @Test func gapsAndBadLinesReconnectAndACompleteResets() throws {
        var follower = FeedFollower()
        #expect(
            try follower.handle(
                line: line(.complete(revision: 3, objects: [Fixture.network("blue", vni: 4097)])))
                == .changed(complete: true))
        #expect(follower.since == 3)
        #expect(
            try follower.handle(line: line(.incremental(from: 3, to: 4, changes: [])))
                == .changed(complete: false))
        #expect(try follower.handle(line: line(.keepalive(revision: 4))) == .alive)
        guard
            case .reconnect(let gap) = try follower.handle(
                line: line(.incremental(from: 6, to: 7, changes: [])))
        else {
            Issue.record("a gap must reconnect")
            return
        }
        #expect(gap.contains("revision 4") && gap.contains("starts at 6"))
        #expect(follower.since == 4)
        guard case .reconnect(let bad) = follower.handle(line: "{\"type\":\"incr") else {
            Issue.record("an undecodable line must reconnect")
            return
        }
        #expect(bad.contains("undecodable"))
        #expect(
            try follower.handle(line: line(.complete(revision: 9, objects: []))) == .changed(complete: true))
        #expect(follower.since == 9 && follower.view.objects.isEmpty)
    }

    @Test func backoffDoublesWithJitterAndIsCapped() {
        for attempt in 0..<30 {
            let delay = FeedFollower.backoff(attempt: attempt)
            let ceiling = min(15, 0.5 * pow(2, Double(min(attempt, 16))))
            #expect(delay >= ceiling / 2 && delay <= ceiling)
        }
    }
}

@Suite struct ProcessRecordTests {
    @Test func aRecycledPidIsNeverSignalled() throws {
        let me = getpid()
        let start = try #require(ProcessRecord.startTime(of: me))
        #expect(ProcessRecord(pid: me, startTime: start).isAlive)
        let impostor = ProcessRecord(pid: me, startTime: start + 1)
        #expect(!impostor.isAlive)
        #expect(!impostor.signal(SIGTERM))
    }
}
