import Foundation
import Testing

@testable import ShoalAgent

/// The timeline the convergence benchmark splits its latency with: the first time of a step
/// counts, the oldest keys go past the limit, and `/v1/programmed` is one step of the peers.
@Suite struct ConvergenceTimelineTests {
    @Test func firstMarkWinsAndOldKeysGo() throws {
        let timeline = ConvergenceTimeline()
        timeline.mark("peer/n/02:00:00:00:00:01", "programmed", at: 1)
        timeline.mark("peer/n/02:00:00:00:00:01", "programmed", at: 2)
        timeline.mark("task/t1", "spawned", at: 3)
        #expect(timeline.step("peer/n/02:00:00:00:00:01", "programmed") == 1)
        let programmed = try JSONDecoder().decode(
            [String: Double].self, from: Data(timeline.json(prefix: "peer/", step: "programmed")))
        #expect(programmed == ["n/02:00:00:00:00:01": 1])
        for index in 0..<ConvergenceTimeline.limit { timeline.mark("task/x\(index)", "view", at: 4) }
        #expect(timeline.step("peer/n/02:00:00:00:00:01", "programmed") == nil)
        #expect(timeline.step("task/x0", "view") == 4)
    }
}
