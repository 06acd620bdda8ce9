import ShoalModel

/// Pools the allocator hands out from.
public struct AllocatorConfig: Sendable, Equatable {
    /// Subnets for networks created without one are cut from here.
    public var defaultPool: CIDR
    public var subnetPrefixLength: Int
    public var firstVNI: UInt32
    public var lastVNI: UInt32
    public var ingressPorts: ClosedRange<UInt16>
    /// The `ingress` network's subnet, chosen at cluster init (nil: the first /24 of the pool).
    /// Every node holds a load-balancer address on it, so a cluster of more than 250 nodes needs
    /// more than a /24.
    public var ingressSubnet: CIDR?
    /// How long the addresses of a removed node's tasks stay out of use (its processes may still
    /// hold them until someone stops that host).
    public var quarantineSeconds: Double

    public init(
        defaultPool: CIDR = CIDR(network: IPv4Address(0x0A00_0000), clampedPrefix: 8),
        subnetPrefixLength: Int = 24, firstVNI: UInt32 = 4096, lastVNI: UInt32 = 0xFF_FFFF,
        ingressPorts: ClosedRange<UInt16> = 30000...32767, ingressSubnet: CIDR? = nil,
        quarantineSeconds: Double = 3600
    ) {
        self.defaultPool = defaultPool
        self.subnetPrefixLength = subnetPrefixLength
        self.firstVNI = firstVNI
        self.lastVNI = lastVNI
        self.ingressPorts = ingressPorts
        self.ingressSubnet = ingressSubnet
        self.quarantineSeconds = quarantineSeconds
    }
}

/// Hands out VNIs, subnets, addresses and ingress ports, each in order after the last one given,
/// skipping those in use. Pure functions over the cluster state.
public enum Allocator {
    // MARK: networks

    /// The next free VNI after the last one handed out.
    static func nextVNI(_ state: inout ClusterState, config: AllocatorConfig) -> UInt32? {
        let used = Set(state.networks.values.map(\.vni))
        let count = Int(config.lastVNI - config.firstVNI) + 1
        var candidate = state.cursors.lastVNI ?? (config.firstVNI - 1)
        for _ in 0..<count {
            candidate = candidate >= config.lastVNI ? config.firstVNI : candidate + 1
            if !used.contains(candidate) {
                state.cursors.lastVNI = candidate
                return candidate
            }
        }
        return nil
    }

    /// The next subnet of the default pool that overlaps no network's subnet.
    static func nextSubnet(_ state: inout ClusterState, config: AllocatorConfig) -> CIDR? {
        let pool = config.defaultPool
        let step = UInt32(1) << UInt32(32 - config.subnetPrefixLength)
        let count = Int(pool.size / UInt64(step))
        let existing = state.networks.values.map(\.subnet)
        var candidate = state.cursors.lastSubnet ?? (pool.network.value &- step)
        for _ in 0..<count {
            candidate = candidate &+ step
            if !pool.contains(IPv4Address(candidate)) { candidate = pool.network.value }
            guard let cidr = CIDR(address: IPv4Address(candidate), prefixLength: config.subnetPrefixLength)
            else {
                return nil
            }
            if !existing.contains(where: { $0.overlaps(cidr) }) {
                state.cursors.lastSubnet = candidate
                return cidr
            }
        }
        return nil
    }

    /// Builds a network from a validated spec, choosing VNI, subnet and gateway.
    static func makeNetwork(
        id: String, spec: NetworkSpec, ingress: Bool, state: inout ClusterState, config: AllocatorConfig
    ) throws(StoreError) -> Network {
        guard let vni = nextVNI(&state, config: config) else {
            throw .conflict("no free VNI between \(config.firstVNI) and \(config.lastVNI)")
        }
        let subnet: CIDR
        if let given = spec.subnet {
            subnet = given
        } else if let chosen = nextSubnet(&state, config: config) {
            subnet = chosen
        } else {
            throw .conflict(
                "the default pool \(config.defaultPool) has no free /\(config.subnetPrefixLength)")
        }
        let network = CIDR(address: subnet.network, prefixLength: subnet.prefixLength) ?? subnet
        let gateway = spec.gateway ?? IPv4Address(network.network.value + (network.prefixLength < 31 ? 1 : 0))
        return Network(
            id: id, status: "allocated", name: spec.name, vni: vni, subnet: network, gateway: gateway,
            ipRange: spec.ipRange, mtu: spec.mtu ?? Network.defaultMTU, attachable: spec.attachable ?? false,
            internal: spec.internal ?? false, ingress: ingress)
    }

    // MARK: addresses

    /// Every address in use on a network: the gateway, VIPs, task endpoints and load balancers.
    public static func usedAddresses(_ state: ClusterState, network: Network) -> [UInt32: String] {
        var used: [UInt32: String] = [network.gateway.value: "gateway"]
        for service in state.services.values {
            for vip in service.virtualIPs where vip.networkID == network.id {
                used[vip.address.value] = "vip \(service.spec.name)"
            }
        }
        for task in state.tasks.values {
            for endpoint in task.endpoints where endpoint.networkID == network.id {
                if let address = endpoint.address { used[address.value] = "task \(task.name)" }
            }
        }
        for node in state.nodes.values {
            if let address = node.loadBalancerIPs[network.id] { used[address.value] = "lb \(node.name)" }
        }
        for entry in state.cursors.quarantined ?? [] where entry.networkID == network.id {
            used[entry.address.value] = "quarantined \(entry.holder)"
        }
        return used
    }

    /// The next free address after the last one handed out on `network`, or a readable reason.
    static func nextAddress(
        _ state: inout ClusterState, network: Network, used: inout PassAddresses
    ) -> Result<IPv4Address, ExhaustedError> {
        guard let range = network.allocatableRange else {
            return .failure(ExhaustedError(message: "network \(network.name) has no usable address range"))
        }
        // Full earlier in this pass: nothing is released within a pass.
        if let full = used.exhausted[network.id] { return .failure(full) }
        let count = Int(range.upperBound - range.lowerBound) + 1
        var candidate = state.cursors.lastAddress[network.id] ?? (range.lowerBound &- 1)
        for _ in 0..<count {
            candidate =
                (candidate >= range.upperBound || candidate < range.lowerBound)
                ? range.lowerBound : candidate + 1
            if !used.contains(candidate, on: network.id) {
                used.take(candidate, on: network.id)
                state.cursors.lastAddress[network.id] = candidate
                return .success(IPv4Address(candidate))
            }
        }
        let pool = network.ipRange ?? network.subnet
        let held = used.count(on: network.id, in: range)
        let full = ExhaustedError(
            message: "network \(network.name) has no free address: \(pool) holds \(held)")
        used.exhausted[network.id] = full
        return .failure(full)
    }

    public struct ExhaustedError: Error, Equatable, Sendable {
        public var message: String
    }

    // MARK: ports

    /// The next free ingress port after the last one handed out.
    static func nextPort(
        _ state: inout ClusterState, protocol proto: PortProtocol, used: Set<String>, config: AllocatorConfig
    ) -> UInt16? {
        let range = config.ingressPorts
        var candidate = state.cursors.lastPort ?? (range.lowerBound - 1)
        for _ in 0..<range.count {
            candidate =
                candidate >= range.upperBound || candidate < range.lowerBound
                ? range.lowerBound : candidate + 1
            if !used.contains("\(proto.rawValue)/\(candidate)") {
                state.cursors.lastPort = candidate
                return candidate
            }
        }
        return nil
    }

    /// Published ingress ports in use, as "tcp/30000" -> service name, leaving out `excluding`
    /// (from the index: the state must be synced).
    static func ingressPortsInUse(_ state: ClusterState, excluding serviceID: String?) -> [String: String] {
        var used: [String: String] = [:]
        for (key, ids) in state.index.ingressPorts {
            if let holder = ids.sorted().first(where: { $0 != serviceID }),
                let service = state.services[holder]
            {
                used[key] = service.spec.name
            }
        }
        return used
    }

    /// Resolves the published ports of a service: explicit ones must be free (409 naming the holder),
    /// missing ingress ones are chosen from the automatic range.
    static func resolvePorts(
        _ ports: [PortConfig], serviceID: String, state: inout ClusterState, config: AllocatorConfig,
        previous: [PortConfig]
    ) throws(StoreError) -> [PortConfig] {
        state.syncIndex()
        let inUse = ingressPortsInUse(state, excluding: serviceID)
        var taken = Set(inUse.keys)
        var result: [PortConfig] = []
        for (index, port) in ports.enumerated() {
            var resolved = port
            if port.publishMode == .ingress {
                if let published = port.published {
                    let key = "\(port.protocol.rawValue)/\(published)"
                    if let holder = inUse[key] {
                        throw .conflict("port \(key) is already published by service \(holder)")
                    }
                    if taken.contains(key) {
                        throw .invalid(
                            field: "ports[\(index)].published", reason: "port \(key) is listed twice")
                    }
                    taken.insert(key)
                } else if let kept = previous.first(where: {
                    $0.protocol == port.protocol && $0.target == port.target && $0.publishMode == .ingress
                        && $0.published.map { !taken.contains("\(port.protocol.rawValue)/\($0)") } == true
                }), let published = kept.published {
                    // An update keeps the port it was given.
                    resolved.published = published
                    taken.insert("\(port.protocol.rawValue)/\(published)")
                } else {
                    guard let chosen = nextPort(&state, protocol: port.protocol, used: taken, config: config)
                    else {
                        throw .conflict("no free ingress port in \(config.ingressPorts)")
                    }
                    resolved.published = chosen
                    taken.insert("\(port.protocol.rawValue)/\(chosen)")
                }
            }
            result.append(resolved)
        }
        return result
    }

    // MARK: the allocation pass

    /// Releases what is no longer needed, then allocates what is missing: service VIPs, task
    /// addresses and node load-balancer addresses. Exhaustion is written into the statuses.
    /// Returns the addresses in use per network afterwards, for placement to continue from.
    /// `services` and `nodes` limit the VIP and load-balancer work to those (nil: all of them).
    @discardableResult
    public static func run(_ state: inout ClusterState, now: Double = 0) -> PassAddresses {
        run(&state, now: now, services: nil, nodes: nil)
    }

    static func run(
        _ state: inout ClusterState, now: Double, services: [String]?, nodes: [String]?
    ) -> PassAddresses {
        if let quarantined = state.cursors.quarantined {
            let kept = quarantined.filter { $0.until > now }
            if kept.count != quarantined.count { state.cursors.quarantined = kept.isEmpty ? nil : kept }
        }
        state.syncIndex()
        let needs = LoadBalancerNeeds(state)
        let serviceIDs = services ?? state.services.keys.sorted()
        let nodeIDs = nodes ?? state.nodes.keys.sorted()
        release(&state, needs: needs, services: serviceIDs, nodes: nodeIDs)
        state.syncIndex()
        var used = PassAddresses(state)

        for serviceID in serviceIDs {
            guard var service = state.services[serviceID] else { continue }
            guard service.spec.effectiveEndpointMode == .vip else { continue }
            for networkID in service.networkIDs
            where !service.virtualIPs.contains(where: { $0.networkID == networkID }) {
                guard let network = state.networks[networkID] else { continue }
                switch nextAddress(&state, network: network, used: &used) {
                case .success(let address):
                    service.virtualIPs.append(VirtualIP(networkID: networkID, address: address))
                case .failure:
                    // The service status says so (Orchestrator.updateServiceStatus); retried next pass.
                    break
                }
            }
            if service != state.services[serviceID] { state.services[serviceID] = service }
        }

        for nodeID in nodeIDs {
            guard var node = state.nodes[nodeID] else { continue }
            for networkID in needs.networks(of: nodeID, state.index).sorted()
            where node.loadBalancerIPs[networkID] == nil {
                guard let network = state.networks[networkID] else { continue }
                switch nextAddress(&state, network: network, used: &used) {
                case .success(let address):
                    node.loadBalancerIPs[networkID] = address
                case .failure(let error):
                    node.status = error.message
                }
            }
            if node != state.nodes[nodeID] { state.nodes[nodeID] = node }
        }

        for taskID in state.index.needsAllocation.sorted() {
            guard var task = state.tasks[taskID] else { continue }
            var failure: String?
            for index in task.endpoints.indices where task.endpoints[index].address == nil {
                guard let network = state.networks[task.endpoints[index].networkID] else { continue }
                switch nextAddress(&state, network: network, used: &used) {
                case .success(let address):
                    task.endpoints[index].address = address
                    task.endpoints[index].mac = MACAddress(derivedFrom: address)
                case .failure(let error):
                    failure = error.message
                }
            }
            if let failure {
                task.status = failure
            } else if task.state == .new {
                task.state = .pending
                task.status = "addresses allocated"
            }
            // Written back only when changed: an untouched task map costs nothing to commit.
            if task != state.tasks[taskID] { state.tasks[taskID] = task }
        }
        return used
    }

    /// Networks a node needs a load-balancer address on: ingress, every network where it has a
    /// task that has not stopped, and (first eligible node only) networks of tasks waiting for a
    /// node where no eligible node has one. Placement gives a node the ones a new task needs.
    static func loadBalancerNetworks(_ state: ClusterState, nodeID: String) -> Set<String> {
        var indexed = state
        indexed.syncIndex()
        return LoadBalancerNeeds(indexed).networks(of: nodeID, indexed.index)
    }

    /// Addresses come back when the agent reported the task stopped, when a service leaves a
    /// network, and when a node no longer has tasks on a network.
    static func release(
        _ state: inout ClusterState, needs: LoadBalancerNeeds, services: [String], nodes: [String]
    ) {
        for taskID in state.index.holdingStopped {
            guard var released = state.tasks[taskID] else { continue }
            for index in released.endpoints.indices {
                released.endpoints[index].address = nil
                released.endpoints[index].mac = nil
            }
            state.tasks[taskID] = released
        }
        for serviceID in services {
            guard let service = state.services[serviceID] else { continue }
            let keep = service.virtualIPs.filter {
                service.spec.effectiveEndpointMode == .vip && service.networkIDs.contains($0.networkID)
                    && state.networks[$0.networkID] != nil
            }
            if keep != service.virtualIPs { state.services[serviceID]?.virtualIPs = keep }
        }
        for nodeID in nodes {
            guard let node = state.nodes[nodeID] else { continue }
            let needed = needs.networks(of: nodeID, state.index)
            let keep = node.loadBalancerIPs.filter {
                needed.contains($0.key) && state.networks[$0.key] != nil
            }
            if keep != node.loadBalancerIPs { state.nodes[nodeID]?.loadBalancerIPs = keep }
        }
    }
}

/// Which networks nodes need a load-balancer address on, from the kept indexes.
struct LoadBalancerNeeds {
    let ingress: Set<String>
    /// The first eligible node, and the networks it holds one on for tasks waiting for a node.
    let first: String?
    let unserved: Set<String>

    init(_ state: ClusterState) {
        ingress = state.ingressNetwork.map { [$0.id] } ?? []
        let index = state.index
        first = index.eligibleNodes.first
        // A network with tasks waiting for a node keeps one load balancer (on the first eligible
        // node) before task addresses are handed out, so tasks cannot take the last address and
        // leave no node able to run them. Placement gives the other nodes theirs.
        unserved = Set(
            index.unplacedNetworks.keys.filter { networkID in
                !index.eligibleNodes.contains { index.liveNetworksByNode[$0]?[networkID] != nil }
            })
    }

    func networks(of nodeID: String, _ index: ClusterIndex) -> Set<String> {
        var networks = ingress
        if let live = index.liveNetworksByNode[nodeID] { networks.formUnion(live.keys) }
        if nodeID == first { networks.formUnion(unserved) }
        return networks
    }
}

/// The addresses in use during one pass: the index's (as the pass began) plus those the pass has
/// handed out and the quarantined ones.
public struct PassAddresses: Sendable {
    private let base: [String: [UInt32: Int]]
    private var taken: [String: Set<UInt32>] = [:]
    /// Networks found full in this pass, with the error that said so.
    var exhausted: [String: Allocator.ExhaustedError] = [:]

    init(_ state: ClusterState) {
        base = state.index.usedAddresses
        for entry in state.cursors.quarantined ?? [] { take(entry.address.value, on: entry.networkID) }
    }

    func contains(_ address: UInt32, on networkID: String) -> Bool {
        base[networkID]?[address] != nil || taken[networkID]?.contains(address) == true
    }

    mutating func take(_ address: UInt32, on networkID: String) {
        taken[networkID, default: []].insert(address)
    }

    /// Addresses in use inside `range` on the network.
    func count(on networkID: String, in range: ClosedRange<UInt32>) -> Int {
        let held = base[networkID]?.keys.filter { range.contains($0) } ?? []
        let added = taken[networkID]?.filter { range.contains($0) && base[networkID]?[$0] == nil } ?? []
        return held.count + added.count
    }
}
