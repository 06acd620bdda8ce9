import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct NodeTests {
    @Test func registrationByNameKeepsTheIdAndAGivenIdIsUsed() async throws {
        let h = try await Harness.make()
        let first = try await h.addNode("n1", address: "192.168.0.1")
        let again = try await h.manager.register(NodeRegistration(name: "n1", address: ip("192.168.0.9")))
        #expect(again.id == first.id)
        #expect(again.address.description == "192.168.0.9")

        let given = try await h.manager.register(
            NodeRegistration(id: "certnode1", name: "n2", address: ip("192.168.0.2"), role: .manager))
        #expect(given.id == "certnode1" && given.role == .manager)
        let moved = try await h.manager.register(
            NodeRegistration(id: "certnode1", name: "n2", address: ip("192.168.0.3")))
        #expect(moved.id == "certnode1" && moved.address.description == "192.168.0.3")
        await #expect(throws: StoreError.conflict("node name n1 is taken by node \(first.id)")) {
            try await h.manager.register(
                NodeRegistration(id: "other", name: "n1", address: ip("192.168.0.4")))
        }
        #expect(await h.state.nodes.count == 2)
    }

    @Test func aNodeJoiningLongAfterTheManagerStartedIsReady() async throws {
        let h = try await Harness.make()
        h.clock.advance(60)
        let late = try await h.addNode("late", address: "192.168.0.7")
        #expect(late.state == .ready)
        try await h.manager.reconcile()
        #expect(await h.state.nodes[late.id]?.state == .ready)
    }

    @Test func oneHeartbeatBringsADownNodeBack() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        h.clock.advance(16)
        try await h.manager.reconcile()
        #expect(await h.state.nodes[node.id]?.state == .down)
        let answer = try await h.manager.heartbeat(node.id)
        #expect(answer.state == .ready)
        #expect(await h.state.nodes[node.id]?.state == .ready)
    }

    @Test func onlyNodeRoutesAreOpenToNodes() {
        let nodeRoutes = ManagerAPI.routes.filter { $0.access != .admin && $0.access != .join }.map {
            "\($0.method.rawValue) \($0.path)"
        }
        #expect(
            nodeRoutes.sorted() == [
                "GET /v1/nodes/{id}/feed", "GET /v1/nodes/{id}/logs", "POST /v1/nodes/register",
                "POST /v1/nodes/{id}/heartbeat", "POST /v1/nodes/{id}/logs/{subscription}",
                "POST /v1/nodes/{id}/renew", "POST /v1/tasks/{id}/status",
            ])
        // The join listener serves these and nothing else.
        let joinRoutes = ManagerAPI.routes.filter { $0.access == .join }.map {
            "\($0.method.rawValue) \($0.path)"
        }
        #expect(joinRoutes.sorted() == ["GET /v1/join/ca", "POST /v1/join"])
    }
}
