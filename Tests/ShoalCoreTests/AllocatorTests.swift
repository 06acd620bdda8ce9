import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct AllocatorTests {
    @Test func ingressExistsFromInitAndNetworksGetVNIsAndSubnetsInOrder() async throws {
        let h = try await Harness.make()
        let a = try await h.network(NetworkSpec(name: "a"))
        let b = try await h.network(NetworkSpec(name: "b"))
        let state = await h.state
        let ingress = try #require(state.ingressNetwork)
        #expect(ingress.name == "ingress")
        #expect(ingress.vni == 4096)
        #expect(ingress.subnet.description == "10.0.0.0/24")
        #expect(ingress.gateway.description == "10.0.0.1")
        #expect(a.vni == 4097 && b.vni == 4098)
        #expect(a.subnet.description == "10.0.1.0/24" && b.subnet.description == "10.0.2.0/24")
        #expect(b.gateway.description == "10.0.2.1")
    }

    /// Overlapping subnets are refused (Docker's rule, issue #13); automatic ones skip explicit ones.
    @Test func explicitSubnetsMayNotOverlapAndAutoSubnetsSkipThem() async throws {
        let h = try await Harness.make()
        let x = try await h.network(NetworkSpec(name: "x", subnet: cidr("10.0.1.0/24")))
        await #expect(throws: StoreError.conflict("subnet 10.0.1.0/24 overlaps network x (10.0.1.0/24)")) {
            try await h.network(NetworkSpec(name: "y", subnet: cidr("10.0.1.0/24")))
        }
        let z = try await h.network(NetworkSpec(name: "z"))
        #expect(x.vni != z.vni)
        #expect(z.subnet.description == "10.0.2.0/24")
        await #expect(throws: StoreError.conflict("a network named x exists")) {
            try await h.network(NetworkSpec(name: "x"))
        }
    }

    @Test func badNetworkSpecsAreRefusedNamingTheField() async throws {
        let h = try await Harness.make()
        let before = await h.manager.store.current().revision
        let cases: [(NetworkSpec, String)] = [
            (NetworkSpec(name: ""), "name"),
            (NetworkSpec(name: "bad name"), "name"),
            (NetworkSpec(name: "n", subnet: cidr("10.9.0.5/24")), "subnet"),
            (NetworkSpec(name: "n", subnet: cidr("10.9.0.0/24"), gateway: ip("10.8.0.1")), "gateway"),
            (NetworkSpec(name: "n", subnet: cidr("10.9.0.0/24"), ipRange: cidr("10.9.1.0/28")), "ipRange"),
            (NetworkSpec(name: "n", mtu: 100), "mtu"),
        ]
        for (spec, field) in cases {
            do {
                try await h.network(spec)
                Issue.record("accepted \(spec)")
            } catch let StoreError.invalid(got, _) {
                #expect(got == field)
            }
        }
        #expect(await h.manager.store.current().revision == before)
    }

    @Test func addressesGoInOrderAfterTheLastOneAndComeBackOnlyAfterTheTaskStopped() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await h.network(NetworkSpec(name: "net", subnet: cidr("10.5.0.0/24")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: [node.id])
        var state = await h.state
        let net = try #require(state.network(named: "net"))
        let vip = try #require(state.service(named: "web")?.virtualIPs.first { $0.networkID == net.id })
        #expect(vip.address.description == "10.5.0.2")
        let taskIPs = state.tasks(of: "web").compactMap { $0.endpoints.first?.address?.description }.sorted()
        // The node's load balancer is reserved before task addresses.
        #expect(state.nodes[node.id]?.loadBalancerIPs[net.id]?.description == "10.5.0.3")
        #expect(taskIPs == ["10.5.0.4", "10.5.0.5"])
        let first = try #require(state.tasks(of: "web").first)
        #expect(first.endpoints[0].mac == MACAddress(derivedFrom: try #require(first.endpoints[0].address)))

        // Removing a task: its address stays held until the agent reports it stopped.
        try await h.manager.apply { state in try Operations.removeTask(first.id, state: &state) }
        state = await h.state
        #expect(state.tasks[first.id]?.endpoints[0].address != nil)
        let replacement = try #require(
            state.tasks(of: "web").first { $0.id != first.id && $0.slot == first.slot })
        #expect(replacement.endpoints[0].address?.description == "10.5.0.6")
        try await h.settle(alive: [node.id])
        state = await h.state
        #expect(state.tasks[first.id]?.state == .shutdown)
        #expect(state.tasks[first.id]?.endpoints[0].address == nil)
    }

    @Test func exhaustionIsWrittenIntoTheStatusAndRetriedWhenAnAddressFrees() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await h.network(NetworkSpec(name: "web-net", subnet: cidr("10.0.5.0/24")))
        // 254 usable: gateway, VIP and the node's load balancer leave 251 for tasks.
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 252, command: ["x"], networks: [NetworkAttachment(target: "web-net")]))
        try await h.settle(alive: [node.id], rounds: 3)
        var state = await h.state
        let message = "network web-net has no free address: 10.0.5.0/24 holds 254"
        let starved = state.tasks(of: "web").filter { $0.endpoints[0].address == nil }
        #expect(starved.count == 1)
        #expect(starved.first?.status == message)
        #expect(starved.first?.state == .new)
        #expect(state.service(named: "web")?.status.contains(message) == true)

        // Scaling down frees addresses once the agent stopped the tasks; the starved task gets one.
        try await h.update("web") { $0.replicas = 251 }
        try await h.settle(alive: [node.id], step: 1)
        state = await h.state
        #expect(state.running("web").count == 251)
        #expect(
            state.tasks(of: "web").filter { $0.desiredState == .running && $0.endpoints[0].address == nil }
                .isEmpty)
        #expect(state.service(named: "web")?.status == "251/251 tasks running")
    }

    @Test func ingressPortsExplicitConflictAutomaticRangeAndDNSRR() async throws {
        let h = try await Harness.make()
        let web = try await h.service(
            ServiceSpec(name: "web", command: ["x"], ports: [PortConfig(target: 80, published: 8080)]))
        #expect(web.ports.first?.published == 8080)
        #expect(web.networkIDs == [await h.state.ingressNetwork?.id].compactMap { $0 })
        await #expect(throws: StoreError.conflict("port tcp/8080 is already published by service web")) {
            try await h.service(
                ServiceSpec(name: "api", command: ["x"], ports: [PortConfig(target: 81, published: 8080)]))
        }
        // The same number over UDP is another port.
        let dns = try await h.service(
            ServiceSpec(
                name: "dns", command: ["x"], ports: [PortConfig(protocol: .udp, target: 53, published: 8080)])
        )
        #expect(dns.ports.first?.published == 8080)
        let auto1 = try await h.service(
            ServiceSpec(name: "a1", command: ["x"], ports: [PortConfig(target: 80)]))
        let auto2 = try await h.service(
            ServiceSpec(name: "a2", command: ["x"], ports: [PortConfig(target: 80)]))
        #expect(auto1.ports.first?.published == 30000)
        #expect(auto2.ports.first?.published == 30001)
        await #expect(throws: StoreError.self) {
            try await h.service(
                ServiceSpec(name: "rr", command: ["x"], endpointMode: .dnsrr, ports: [PortConfig(target: 80)])
            )
        }
        do {
            try await h.service(
                ServiceSpec(name: "rr", command: ["x"], endpointMode: .dnsrr, ports: [PortConfig(target: 80)])
            )
        } catch let StoreError.invalid(field, reason) {
            #expect(field == "ports[0].publishMode")
            #expect(reason.contains("dnsrr"))
        }
        // dnsrr with a host-mode port is fine, and gets no VIP.
        let rr = try await h.service(
            ServiceSpec(
                name: "rr", command: ["x"], endpointMode: .dnsrr,
                ports: [PortConfig(target: 80, publishMode: .host)]))
        #expect(await h.state.services[rr.id]?.virtualIPs.isEmpty == true)
        // An update keeps an automatic port.
        let updated = try await h.update("a1") { $0.env = ["A=1"] }
        #expect(updated.ports.first?.published == 30000)
    }
}

/// Address bugs found at scale (issue 12).
@Suite struct AddressAtScaleTests {
    /// Every eligible node used to reserve a load-balancer address on the network of a waiting task
    /// before task addresses were handed out: with 250 nodes a /24 held only load balancers and the
    /// tasks stayed `new`. Now only the node a task is placed on gets one.
    @Test func threeHundredNodesLeaveASlash24ForTheTasks() async throws {
        let h = try await Harness.make(allocator: AllocatorConfig(ingressSubnet: cidr("10.255.0.0/22")))
        for index in 0..<300 {
            try await h.addNode("n\(index)", address: "192.168.\(index / 200).\(index % 200 + 1)")
        }
        try await h.network(NetworkSpec(name: "net", subnet: cidr("10.5.0.0/24")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 20, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        let state = await h.state
        let tasks = state.tasks(of: "web")
        #expect(tasks.count == 20)
        #expect(tasks.allSatisfy { $0.state == .assigned })
        let net = try #require(state.network(named: "net"))
        let holders = Set(state.nodes.values.filter { $0.loadBalancerIPs[net.id] != nil }.map(\.id))
        #expect(holders == Set(tasks.compactMap(\.nodeID)))
        // Ingress was sized at init, so all 300 nodes have their load balancer there.
        let ingress = try #require(state.ingressNetwork)
        #expect(ingress.subnet == cidr("10.255.0.0/22"))
        #expect(state.nodes.values.allSatisfy { $0.loadBalancerIPs[ingress.id] != nil })
    }

    /// A force-removed node's processes may still answer on its tasks' addresses (and SNAT from its
    /// load balancers): those addresses are not handed out again for an hour.
    @Test func aRemovedNodesAddressesAreQuarantined() async throws {
        let h = try await Harness.make()
        let n1 = try await h.addNode("n1", address: "192.168.0.1").id
        let n2 = try await h.addNode("n2", address: "192.168.0.2").id
        // .2-.6: the VIP, two tasks and two load balancers fill it.
        try await h.network(NetworkSpec(name: "net", subnet: cidr("10.7.0.0/29")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: [n1, n2])
        var state = await h.state
        let net = try #require(state.network(named: "net"))
        let gone = try #require(state.tasks(of: "web").first { $0.nodeID == n1 })
        let held = Set(
            [gone.endpoints[0].address, state.nodes[n1]?.loadBalancerIPs[net.id]].compactMap { $0 })
        #expect(held.count == 2)

        let removedAt = h.clock.now
        try await h.manager.removeNode("n1", force: true)
        try await h.settle(alive: [n2])
        state = await h.state
        let quarantined = state.cursors.quarantined ?? []
        #expect(Set(quarantined.filter { $0.networkID == net.id }.map(\.address)) == held)
        // Its ingress load balancer too.
        #expect(quarantined.contains { $0.networkID == state.ingressNetwork?.id && $0.holder == "lb n1" })
        #expect(quarantined.allSatisfy { $0.until == removedAt + 3600 })
        // The replacement waits: the only free addresses are quarantined.
        let waiting = try #require(
            state.tasks(of: "web").first { $0.desiredState == .running && $0.nodeID == nil })
        #expect(waiting.status == "network net has no free address: 10.7.0.0/29 holds 6")

        h.clock.advance(3600)
        try await h.settle(alive: [n2])
        state = await h.state
        #expect(state.cursors.quarantined == nil)
        #expect(state.running("web").count == 2)
        #expect(state.running("web").allSatisfy { $0.nodeID == n2 })
    }
}
