import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// The indexes a pass reads (`ClusterIndex`) are kept from each write's changes. Where they could
/// drift, the kept ones must equal the ones built from nothing, and what they feed (placement,
/// allocation) must see the change.
@Suite struct IndexUpkeepTests {
    func expectKept(
        _ index: ClusterIndex, _ state: ClusterState, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(index.built, "no kept indexes: \(what)", sourceLocation: sourceLocation)
        #expect(
            index == ClusterIndex(rebuiltFrom: state), "the kept indexes drifted: \(what)",
            sourceLocation: sourceLocation)
    }

    @Test func aRemovedServiceLeavesNoTaskInTheIndexes() async throws {
        let h = try await Harness.make()
        let n1 = try await h.addNode("n1", address: "192.168.1.1").id
        let net = try await h.network(NetworkSpec(name: "net", subnet: cidr("10.7.0.0/24")))
        let web = try await h.service(
            ServiceSpec(
                name: "web", replicas: 3, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: [n1])
        var state = await h.state
        var index = await h.keptIndex
        #expect(index.tasksByService[web.id]?.count == 3)
        #expect(index.liveByNode[n1] == 3)
        expectKept(index, state, "after placement")

        try await h.manager.apply { state in try Operations.removeService("web", state: &state) }
        try await h.settle(alive: [n1])
        state = await h.state
        index = await h.keptIndex
        #expect(state.tasks.isEmpty)
        #expect(index.tasks.isEmpty && index.tasksByService.isEmpty)
        #expect(index.liveByNode[n1] == nil && index.liveNetworksByNode[n1] == nil)
        // Only the gateway is left on the network: its tasks, the VIP and n1's load balancer went.
        #expect(index.usedAddresses[net.id] == [net.gateway.value: 1])
        expectKept(index, state, "after the service was removed")
    }

    @Test func aScaledDownServiceCountsOnlyItsLiveTasks() async throws {
        let h = try await Harness.make()
        let n1 = try await h.addNode("n1", address: "192.168.1.1").id
        let n2 = try await h.addNode("n2", address: "192.168.1.2").id
        try await h.network(NetworkSpec(name: "net", subnet: cidr("10.7.0.0/24")))
        let web = try await h.service(
            ServiceSpec(
                name: "web", replicas: 4, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: [n1, n2])
        try await h.update("web") { $0.replicas = 1 }
        try await h.settle(alive: [n1, n2])
        let state = await h.state
        let index = await h.keptIndex
        #expect(state.running("web").count == 1)
        let live = index.liveByServiceNode[web.id]?.values.reduce(0, +)
        #expect(live == 1)
        #expect(index.waiting.isEmpty && index.stopping.isEmpty)
        #expect(index.holdingStopped.isEmpty)
        // The stopped tasks are history, with no address.
        #expect(index.finished.count == 3)
        expectKept(index, state, "after scaling down")

        // Placement counts from the index: a new service spreads onto the emptier node first.
        let api = try await h.service(ServiceSpec(name: "api", replicas: 1, command: ["x"]))
        try await h.settle(alive: [n1, n2])
        let placed = await h.state.tasks(of: "api").first { $0.desiredState == .running }?.nodeID
        let webNode = state.running("web").first?.nodeID
        #expect(placed != nil && placed != webNode, "api \(api.id) went to the node that runs web")
    }

    @Test func aForceRemovedNodesAddressesStayQuarantinedAndItsCountsGo() async throws {
        let h = try await Harness.make(allocator: AllocatorConfig(quarantineSeconds: 3600))
        let n1 = try await h.addNode("n1", address: "192.168.1.1").id
        let n2 = try await h.addNode("n2", address: "192.168.1.2").id
        let net = try await h.network(NetworkSpec(name: "net", subnet: cidr("10.7.0.0/28")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: [n1, n2])
        var state = await h.state
        var index = await h.keptIndex
        let gone = try #require(state.tasks(of: "web").first { $0.nodeID == n1 })
        let goneAddress = try #require(gone.endpoints.first?.address)

        try await h.manager.removeNode("n1", force: true)
        try await h.settle(alive: [n2])
        state = await h.state
        index = await h.keptIndex
        #expect(index.liveByNode[n1] == nil && index.liveNetworksByNode[n1] == nil)
        #expect(index.nodes[n1] == nil && !index.eligibleNodes.contains(n1))
        // The removed task's address is no longer a task's, only quarantined: nobody else got it.
        let holders = state.tasks.values.filter { $0.endpoints.contains { $0.address == goneAddress } }
        #expect(holders.allSatisfy { $0.id == gone.id && $0.state.isTerminal })
        #expect(
            state.cursors.quarantined?.contains { $0.networkID == net.id && $0.address == goneAddress }
                == true)
        #expect(state.running("web").allSatisfy { $0.endpoints[0].address != goneAddress })
        expectKept(index, state, "after the node was removed")
    }

    @Test func aRemovedNetworkLeavesNoAddressesOrLoadBalancers() async throws {
        let h = try await Harness.make()
        let n1 = try await h.addNode("n1", address: "192.168.1.1").id
        let net = try await h.network(NetworkSpec(name: "tmp", subnet: cidr("10.7.0.0/24")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 1, command: ["x"], networks: [NetworkAttachment(target: "tmp")]))
        try await h.settle(alive: [n1])
        #expect(await h.state.nodes[n1]?.loadBalancerIPs[net.id] != nil)
        try await h.manager.apply { state in try Operations.removeService("web", state: &state) }
        try await h.settle(alive: [n1])
        try await h.manager.apply { state in try Operations.removeNetwork("tmp", state: &state) }
        try await h.settle(alive: [n1])
        let state = await h.state
        let index = await h.keptIndex
        #expect(index.usedAddresses[net.id] == nil && index.gateways[net.id] == nil)
        #expect(state.nodes[n1]?.loadBalancerIPs[net.id] == nil)
        expectKept(index, state, "after the network was removed")
    }

    @Test func aFailedWriteLeavesTheIndexesAsTheyWere() async throws {
        let h = try await Harness.make()
        let n1 = try await h.addNode("n1", address: "192.168.1.1").id
        try await h.service(ServiceSpec(name: "web", replicas: 2, command: ["x"]))
        try await h.settle(alive: [n1])
        let before = await h.state
        let indexBefore = await h.keptIndex
        await #expect(throws: StoreError.self) {
            try await h.manager.apply { state in
                for id in state.tasks.keys { state.tasks[id] = nil }
                state.syncIndex()
                throw StoreError.conflict("refused")
            }
        }
        let after = await h.state
        let index = await h.keptIndex
        #expect(after == before)
        #expect(index == indexBefore)
        expectKept(index, after, "after a failed write")
    }
}
