import ShoalModel
import Testing

@testable import ShoalCore

/// Placement constraints, node labels, stack labels and the previous spec (shoalctl's additions).
@Suite struct PlacementTests {
    func labelNode(_ h: Harness, _ name: String, _ labels: [String: String]) async throws {
        try await h.manager.apply { state in
            let version = state.node(named: name)?.version
            return try Operations.updateNode(
                name, version: version, update: NodeUpdate(labels: labels), state: &state)
        }
    }

    @Test func constrainedTasksRunOnlyOnMatchingNodes() async throws {
        let h = try await Harness.make()
        var nodes: [String] = []
        for index in 1...3 {
            nodes.append(try await h.addNode("node\(index)", address: "192.168.0.\(index)").id)
        }
        try await labelNode(h, "node2", ["zone": "a"])
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 3, command: ["x"],
                placement: Placement(constraints: ["node.labels.zone==a"])))
        try await h.service(
            ServiceSpec(
                name: "agent", mode: .global, command: ["x"],
                placement: Placement(constraints: ["node.hostname!=node1"])))
        try await h.service(
            ServiceSpec(
                name: "mars", command: ["x"], placement: Placement(constraints: ["node.labels.zone==mars"])))
        try await h.settle(alive: nodes)
        let state = await h.state
        #expect(Set(state.running("web").compactMap(\.nodeID)) == [nodes[1]])
        #expect(state.running("web").count == 3)
        #expect(Set(state.running("agent").compactMap(\.nodeID)) == [nodes[1], nodes[2]])
        #expect(state.running("mars").isEmpty)
        #expect(
            state.service(named: "mars")?.status.contains(
                "no suitable node: no ready, active node satisfies the placement constraints node.labels.zone==mars"
            )
                == true)
    }

    @Test func invalidConstraintsAndLabelsAreRefusedWithTheirField() async throws {
        let h = try await Harness.make()
        await #expect(
            throws: StoreError.invalid(
                field: "placement.constraints[1]",
                reason: "node.zone==a: node.zone is not node.id, node.hostname, node.role or node.labels.KEY")
        ) {
            try await h.service(
                ServiceSpec(
                    name: "w", command: ["x"],
                    placement: Placement(constraints: ["node.role==worker", "node.zone==a"])))
        }
        await #expect(throws: StoreError.self) {
            try await h.service(ServiceSpec(name: "w", command: ["x"], labels: ["": "x"]))
        }
        await #expect(throws: StoreError.self) {
            try await h.network(NetworkSpec(name: "n", labels: ["a=b": "x"]))
        }
        #expect(await h.state.services.isEmpty)
    }

    @Test func labelsAreStoredAndAnUpdateKeepsThePreviousSpec() async throws {
        let h = try await Harness.make()
        let network = try await h.network(NetworkSpec(name: "n", labels: ["shoal.stack.namespace": "s"]))
        #expect(network.labels == ["shoal.stack.namespace": "s"])
        let first = ServiceSpec(name: "w", command: ["x"], image: "nginx", labels: ["team": "net"])
        try await h.service(first)
        let updated = try await h.update("w") { $0.command = ["y"] }
        #expect(updated.previousSpec == first)
        #expect(updated.spec.image == "nginx")
    }
}

extension PlacementTests {
    @Test func labelsAndImageChangeNoTask() async throws {
        let h = try await Harness.make()
        try await h.service(ServiceSpec(name: "w", command: ["x"]))
        let updated = try await h.update("w") {
            $0.labels = ["team": "net"]
            $0.image = "nginx"
        }
        #expect(updated.generation == 1)
        #expect(
            try await h.update("w") { $0.placement = Placement(constraints: ["node.role==worker"]) }
                .generation == 2)
    }
}
