import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Issue #13, limits: what one agent's messages and one feed resume may cost the manager.
@Suite struct LimitsTests {
    /// A node with one running task of service `web`.
    func runningTask() async throws -> (Harness, Node, ClusterTask) {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await h.service(ServiceSpec(name: "web", replicas: 1, command: ["x"]))
        try await h.settle(alive: [node.id])
        let task = try #require(await h.state.running("web").first)
        return (h, node, task)
    }

    @Test func aTaskReportMessageIsBounded() async throws {
        let (h, node, task) = try await runningTask()
        let huge = String(repeating: "é", count: 600_000)
        let stored = try await h.manager.report(
            task.id, TaskStatusReport(nodeID: node.id, state: .failed, message: huge))
        #expect(stored.status.utf8.count <= Manager.maxReportMessageBytes)
        #expect(stored.status.hasSuffix(" [truncated]"))
        #expect(await h.state.tasks[task.id]?.status == stored.status)
    }

    @Test func reportsAtTheSameStateAreNotAllWritten() async throws {
        let (h, node, task) = try await runningTask()
        let before = await h.manager.store.current().revision
        for index in 0..<50 {
            _ = try await h.manager.report(
                task.id, TaskStatusReport(nodeID: node.id, state: .running, message: "still running \(index)")
            )
        }
        #expect(await h.manager.store.current().revision == before)
        // A new state is written at once.
        _ = try await h.manager.report(task.id, TaskStatusReport(nodeID: node.id, state: .complete))
        #expect(await h.state.tasks[task.id]?.state == .complete)
    }

    @Test func aResumeFromFarBackGetsACompleteInsteadOfAnUnboundedRead() async throws {
        let store = try SQLiteStore(directory: nil)
        var config = ManagerConfig(feedKeepaliveSeconds: 0.2)
        config.maxResumeRevisions = 5
        let manager = Manager(store: store, config: config)
        try await manager.start()
        let node = try await manager.register(NodeRegistration(name: "n1", address: ip("192.168.0.1")))
        let first = store.current().revision
        let identity = await store.identity
        for index in 0..<10 {
            let spec = NetworkSpec(name: "net\(index)")
            let allocator = config.allocator
            _ = try await manager.apply { state in
                try Operations.createNetwork(spec, id: ObjectID.make(), state: &state, config: allocator)
            }
        }
        var near = FeedReader(
            try await manager.feed(
                nodeID: node.id, since: store.current().revision - 2, store: identity))
        #expect(await near.raw()?.type != .complete)
        var far = FeedReader(try await manager.feed(nodeID: node.id, since: first, store: identity))
        #expect(await far.raw()?.type == .complete)
    }
}
