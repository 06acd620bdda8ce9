import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Every address held, as "network/address" -> owners; more than one owner is a double allocation.
func allocationOwners(_ state: ClusterState) -> [String: [String]] {
    var owners: [String: [String]] = [:]
    for network in state.networks.values {
        owners["\(network.id)/\(network.gateway)", default: []].append("gateway \(network.name)")
    }
    for service in state.services.values {
        for vip in service.virtualIPs {
            owners["\(vip.networkID)/\(vip.address)", default: []].append("vip \(service.spec.name)")
        }
    }
    for task in state.tasks.values {
        for endpoint in task.endpoints {
            if let address = endpoint.address {
                owners["\(endpoint.networkID)/\(address)", default: []].append("task \(task.name)")
            }
        }
    }
    for node in state.nodes.values {
        for (networkID, address) in node.loadBalancerIPs {
            owners["\(networkID)/\(address)", default: []].append("lb \(node.name)")
        }
    }
    return owners
}

/// Problems with the allocations: doubles, addresses outside their network, and leaks (an address
/// held by something that no longer needs it).
func allocationProblems(_ state: ClusterState) -> [String] {
    var problems: [String] = []
    for (key, owners) in allocationOwners(state) where owners.count > 1 {
        problems.append("\(key) held by \(owners)")
    }
    for task in state.tasks.values {
        for endpoint in task.endpoints {
            guard let address = endpoint.address else { continue }
            if task.state.isTerminal { problems.append("stopped task \(task.name) still holds \(address)") }
            guard let network = state.networks[endpoint.networkID] else {
                problems.append("task \(task.name) holds \(address) on a removed network")
                continue
            }
            if network.allocatableRange?.contains(address.value) != true {
                problems.append("task \(task.name) holds \(address) outside \(network.subnet)")
            }
            if endpoint.mac != MACAddress(derivedFrom: address) {
                problems.append("task \(task.name) MAC mismatch")
            }
        }
    }
    for service in state.services.values {
        for vip in service.virtualIPs
        where !service.networkIDs.contains(vip.networkID) || service.spec.effectiveEndpointMode != .vip {
            problems.append("service \(service.spec.name) holds a VIP it does not need on \(vip.networkID)")
        }
    }
    for node in state.nodes.values {
        let needed = Allocator.loadBalancerNetworks(state, nodeID: node.id)
        for networkID in node.loadBalancerIPs.keys where !needed.contains(networkID) {
            problems.append(
                "node \(node.name) holds a load-balancer address it does not need on \(networkID)")
        }
    }
    var ports = Set<String>()
    for service in state.services.values {
        for port in service.ports where port.publishMode == .ingress {
            let key = "\(port.protocol.rawValue)/\(port.published ?? 0)"
            if !ports.insert(key).inserted { problems.append("ingress port \(key) published twice") }
            if port.published == nil {
                problems.append("service \(service.spec.name) has an unresolved ingress port")
            }
        }
    }
    if Set(state.networks.values.map(\.vni)).count != state.networks.count {
        problems.append("a VNI is used twice")
    }
    return problems
}

/// The objects that differ between two states, by kind and id (for failure messages).
func difference(_ a: ClusterState, _ b: ClusterState) -> [String] {
    func diff<T: Equatable>(_ kind: String, _ x: ObjectMap<T>, _ y: ObjectMap<T>) -> [String] {
        Set(x.keys).union(y.keys).filter { x[$0] != y[$0] }.sorted().map { id in
            "\(kind) \(id): \(x[id].map { "\($0)" } ?? "absent") -> \(y[id].map { "\($0)" } ?? "absent")"
        }
    }
    return diff("node", a.nodes, b.nodes) + diff("network", a.networks, b.networks)
        + diff("service", a.services, b.services) + diff("task", a.tasks, b.tasks)
        + (a.cursors == b.cursors ? [] : ["cursors \(a.cursors) -> \(b.cursors)"])
}

/// Only allocations, so a restart can be compared on what matters.
func allocations(_ state: ClusterState) -> [String: [String]] { allocationOwners(state) }

@Suite struct PropertyTests {
    /// Random create, scale, update, remove, node down/up, drain and manager restart never give an
    /// address twice, never leak one, and a restart keeps every allocation.
    @Test(arguments: 1...12)
    func randomOperationsKeepAllocationsSound(seed: UInt64) async throws {
        var rng = SeededGenerator(seed: seed)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var h = try await Harness.make(directory: directory, drainSeconds: 1)
        var nodes: [String] = []
        for index in 1...3 {
            nodes.append(try await h.addNode("n\(index)", address: "192.168.1.\(index)").id)
        }
        var down = Set<String>()
        // Small subnets so exhaustion happens.
        try await h.network(NetworkSpec(name: "small", subnet: cidr("10.9.0.0/28")))
        try await h.network(NetworkSpec(name: "big"))
        var serviceCount = 0
        var maxRunning = 0
        var sawExhaustion = false
        var restarts = 0

        for step in 0..<40 {
            let state = await h.state
            let services = state.services.values.map(\.spec.name).sorted()
            switch Int.random(in: 0..<12, using: &rng) {
            case 0, 1:
                serviceCount += 1
                let networks = ["small", "big"].filter { _ in Bool.random(using: &rng) }
                let global = Int.random(in: 0..<5, using: &rng) == 0
                let ports: [PortConfig] =
                    Bool.random(using: &rng)
                    ? [
                        PortConfig(
                            target: 80,
                            published: Bool.random(using: &rng)
                                ? UInt16(8000 + Int.random(in: 0..<3, using: &rng)) : nil)
                    ]
                    : []
                let spec = ServiceSpec(
                    name: "s\(serviceCount)", mode: global ? .global : .replicated,
                    replicas: global ? nil : Int.random(in: 0...6, using: &rng), command: ["x"],
                    networks: networks.map { NetworkAttachment(target: $0) },
                    endpointMode: ports.isEmpty && Bool.random(using: &rng) ? .dnsrr : .vip, ports: ports,
                    updatePolicy: UpdatePolicy(
                        parallelism: Int.random(in: 0...2, using: &rng),
                        delaySeconds: Double(Int.random(in: 0...2, using: &rng)),
                        order: Bool.random(using: &rng) ? .startFirst : .stopFirst))
                do {
                    try await h.service(spec)
                } catch StoreError.conflict {
                    // A published port already taken: refused, nothing stored.
                }
            case 2 where !services.isEmpty:
                let name = services[Int.random(in: 0..<services.count, using: &rng)]
                if state.service(named: name)?.spec.effectiveMode == .replicated {
                    let replicas = Int.random(in: 0...8, using: &rng)
                    try await h.update(name) { $0.replicas = replicas }
                }
            case 3 where !services.isEmpty:
                let name = services[Int.random(in: 0..<services.count, using: &rng)]
                let value = step
                try await h.update(name) { $0.env = ["STEP=\(value)"] }
            case 4 where !services.isEmpty:
                let name = services[Int.random(in: 0..<services.count, using: &rng)]
                try await h.manager.apply { state in try Operations.removeService(name, state: &state) }
            case 5:
                let node = nodes[Int.random(in: 0..<nodes.count, using: &rng)]
                if down.contains(node) { down.remove(node) } else if down.count < 2 { down.insert(node) }
            case 6:
                let node = nodes[Int.random(in: 0..<nodes.count, using: &rng)]
                let availability = NodeAvailability.allCases[Int.random(in: 0..<3, using: &rng)]
                try await h.manager.apply { state in
                    guard let current = state.nodes[node] else { return }
                    _ = try Operations.updateNode(
                        node, version: current.version, update: NodeUpdate(availability: availability),
                        state: &state)
                }
            case 7:
                let before = await h.state
                restarts += 1
                h = try await h.restarted()
                let after = await h.state
                #expect(after == before, "seed \(seed) step \(step): restart changed the state")
                try await h.manager.reconcile()
                #expect(
                    allocations(await h.state) == allocations(before),
                    "seed \(seed) step \(step): restart moved allocations")
            case 8 where !down.isEmpty:
                // A DOWN node is removed (its tasks are given up) and joins again under a new id.
                let gone = down.sorted()[0]
                let name = state.nodes[gone]?.name ?? "nx"
                let address = state.nodes[gone]?.address.description ?? "192.168.1.99"
                try await h.manager.apply { state in
                    try Operations.removeNode(gone, force: true, state: &state)
                }
                down.remove(gone)
                nodes.removeAll { $0 == gone }
                nodes.append(try await h.addNode(name, address: address).id)
            case 9:
                if state.network(named: "tmp") == nil {
                    try await h.network(NetworkSpec(name: "tmp"))
                } else {
                    do {
                        try await h.manager.apply { state in
                            try Operations.removeNetwork("tmp", state: &state)
                        }
                    } catch StoreError.conflict {
                        // In use: refused, nothing stored.
                    }
                }
            case 10 where !services.isEmpty:
                // A service joins "tmp" (when it exists): a rolling update onto another network.
                let name = services[Int.random(in: 0..<services.count, using: &rng)]
                if state.network(named: "tmp") != nil {
                    try await h.update(name) { spec in
                        if !(spec.networks ?? []).contains(where: { $0.target == "tmp" }) {
                            spec.networks = (spec.networks ?? []) + [NetworkAttachment(target: "tmp")]
                        }
                    }
                }
            default:
                break
            }
            let alive = nodes.filter { !down.contains($0) }
            // Odd seeds run only passes scoped to the changes, as the writes and the loop do; a
            // full pass after them must then find nothing to do.
            let scoped = seed % 2 == 1
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                h.clock.advance(Double(Int.random(in: 1...6, using: &rng)))
                try await h.heartbeat(alive)
                try await h.agentsAct(on: Set(alive))
                try await h.manager.reconcile(scope: scoped ? .changes : .full)
            }
            if scoped {
                let before = await h.state
                try await h.manager.reconcile()
                let after = await h.state
                let changed = difference(before, after)
                #expect(
                    changed.isEmpty,
                    "seed \(seed) step \(step): a full pass changed what scoped passes left: \(changed)")
            }
            let snapshot = await h.state
            // The indexes kept from each write's changes are the indexes built from nothing.
            let kept = await h.keptIndex == ClusterIndex(rebuiltFrom: snapshot)
            #expect(kept, "seed \(seed) step \(step): the kept indexes drifted")
            maxRunning = max(maxRunning, snapshot.tasks.values.filter { $0.state == .running }.count)
            if snapshot.tasks.values.contains(where: { $0.status.contains("no free address") }) {
                sawExhaustion = true
            }
            let problems = allocationProblems(snapshot)
            #expect(problems.isEmpty, "seed \(seed) step \(step): \(problems)")
            // The feeds' tables, kept from each commit's changes, hold every node's whole view.
            let revision = await h.manager.store.current().revision
            for node in snapshot.nodes.keys {
                let fed = h.manager.feeds.currentView(of: node)
                #expect(fed.revision == revision)
                #expect(
                    fed.objects == NodeView.compute(snapshot, nodeID: node),
                    "seed \(seed) step \(step): the feed's view of \(node) differs")
            }
            if !problems.isEmpty { return }
        }

        // The run exercised something: tasks ran, the manager restarted, and most seeds exhaust "small".
        #expect(maxRunning > 0 && restarts > 0, "seed \(seed): a run that did nothing")
        if [1, 3, 4, 6, 8, 10, 11, 12].contains(seed) {
            #expect(sawExhaustion, "seed \(seed) no longer exhausts a subnet")
        }
        // Everything comes back: all nodes up, every service removed, agents stop everything.
        down = []
        for name in await h.state.services.values.map(\.spec.name) {
            try await h.manager.apply { state in try Operations.removeService(name, state: &state) }
        }
        try await h.settle(alive: nodes, rounds: 30, step: 1)
        let final = await h.state
        #expect(
            final.tasks.isEmpty,
            "seed \(seed): tasks left \(final.tasks.values.map { "\($0.name) \($0.state)" })")
        let ingress = try #require(final.ingressNetwork)
        let held = allocationOwners(final).values.flatMap { $0 }.filter { !$0.hasPrefix("gateway") }
        #expect(held.count == nodes.count, "seed \(seed): still held \(held)")
        #expect(final.nodes.values.allSatisfy { $0.loadBalancerIPs.keys.sorted() == [ingress.id] })
    }

    @Test func converges() async throws {
        // With all nodes up, each replicated service ends with exactly its replicas running.
        let h = try await Harness.make()
        var nodes: [String] = []
        for index in 1...3 {
            nodes.append(try await h.addNode("n\(index)", address: "192.168.1.\(index)").id)
        }
        for (index, replicas) in [0, 1, 4, 7].enumerated() {
            try await h.service(ServiceSpec(name: "s\(index)", replicas: replicas, command: ["x"]))
        }
        try await h.settle(alive: nodes)
        let state = await h.state
        for (index, replicas) in [0, 1, 4, 7].enumerated() {
            #expect(state.running("s\(index)").count == replicas)
            #expect(state.tasks(of: "s\(index)").count == replicas)
        }
    }
}
