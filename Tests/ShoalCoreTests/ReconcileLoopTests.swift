import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct ReconcileLoopTests {
    /// Polls `condition` for up to five seconds.
    func eventually(_ condition: () async -> Bool) async throws -> Bool {
        for _ in 0..<100 {
            if await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func theLoopReconcilesAfterCommitsAndOnItsTimer() async throws {
        let h = try await Harness.make(tickSeconds: 0.05)
        let node = try await h.addNode("n1", address: "192.168.0.1")
        let loop = Task { await h.manager.run() }
        defer { loop.cancel() }

        // A commit made without reconciling (as another writer would) is picked up by the loop.
        let config = h.manager.config.allocator
        try await h.manager.store.write { state in
            _ = try Operations.createService(
                ServiceSpec(name: "web", replicas: 2, command: ["x"]), id: "svc", state: &state,
                config: config)
        }
        #expect(
            try await eventually {
                await h.state.tasks(of: "web").filter { $0.state == .assigned }.count == 2
            })

        // No heartbeat for more than 3 periods: the timer alone marks the node down.
        h.clock.advance(16)
        #expect(try await eventually { await h.state.nodes[node.id]?.state == .down })
        let state = await h.state
        let placed = state.tasks(of: "web").filter { $0.nodeID == node.id }
        #expect(placed.count == 2 && placed.allSatisfy { $0.desiredState == .shutdown })
        // Their replacements wait for a node.
        let waiting = state.tasks(of: "web").filter { $0.nodeID == nil && $0.desiredState == .running }
        #expect(waiting.count == 2)
        #expect(waiting.allSatisfy { $0.status.hasPrefix("no suitable node") })
    }
}
