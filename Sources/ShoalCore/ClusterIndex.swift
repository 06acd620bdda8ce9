import ShoalModel

/// Indexes over the cluster state, kept across writes and brought up to date from the ids each
/// write touched (`ObjectMap` tracks them), so a reconcile pass finds a service's tasks, a node's
/// task counts and a network's used addresses without walking every task (issue 12).
struct ClusterIndex: Equatable, Sendable {
    struct NetworkAddress: Hashable, Sendable {
        var networkID: String
        var address: UInt32
    }

    /// What a task contributed when it was last indexed.
    struct TaskEntry: Equatable, Sendable {
        var serviceID: String
        var nodeID: String?
        var live: Bool
        var networkIDs: [String]
        var addresses: [NetworkAddress]
        var hostPorts: [String]
        var waiting: Bool
        var unplaced: Bool
        var stopping: Bool
        var finished: Bool
        var unhealthy: Bool
        var needsAllocation: Bool

        init(_ task: ClusterTask) {
            serviceID = task.serviceID
            nodeID = task.nodeID
            live = !task.state.isTerminal
            networkIDs = task.endpoints.map(\.networkID)
            addresses = task.endpoints.compactMap { endpoint in
                endpoint.address.map { NetworkAddress(networkID: endpoint.networkID, address: $0.value) }
            }
            hostPorts = task.spec.hostPorts.map { "\($0.protocol.rawValue)/\($0.published ?? $0.target)" }
            waiting = live && task.state == .pending && task.desiredState == .running
            unplaced = live && task.nodeID == nil && task.desiredState == .running
            stopping = live && task.desiredState != .running
            finished = !live && task.desiredState == .shutdown
            unhealthy =
                task.desiredState == .running && task.state == .running && task.health == .unhealthy
            needsAllocation =
                live && task.desiredState != .shutdown
                && (task.state == .new || task.endpoints.contains { $0.address == nil })
        }
    }

    struct NodeEntry: Equatable, Sendable {
        var name: String
        var eligible: Bool
        var loadBalancers: [NetworkAddress]

        init(_ node: Node) {
            name = node.name
            eligible = Orchestrator.eligible(node)
            loadBalancers = node.loadBalancerIPs.map {
                NetworkAddress(networkID: $0.key, address: $0.value.value)
            }
        }
    }

    struct ServiceEntry: Equatable, Sendable {
        /// The name lowercased (names are unique ignoring case).
        var foldedName: String
        /// Published ingress ports, as "tcp/30000".
        var ingressPorts: [String]
        var global: Bool
        var updating: Bool
        var missingVIP: Bool
        var virtualIPs: [NetworkAddress]

        init(_ service: Service) {
            foldedName = service.spec.name.lowercased()
            ingressPorts = service.ports.compactMap { port in
                port.publishMode == .ingress ? port.published.map { "\(port.protocol.rawValue)/\($0)" } : nil
            }
            global = service.spec.effectiveMode == .global
            updating = service.update?.state == .updating
            missingVIP =
                service.spec.effectiveEndpointMode == .vip
                && service.networkIDs.contains { id in !service.virtualIPs.contains { $0.networkID == id } }
            virtualIPs = service.virtualIPs.map {
                NetworkAddress(networkID: $0.networkID, address: $0.address.value)
            }
        }
    }

    private(set) var tasks: [String: TaskEntry] = [:]
    private(set) var nodes: [String: NodeEntry] = [:]
    private(set) var services: [String: ServiceEntry] = [:]
    /// Each network's gateway.
    private(set) var gateways: [String: UInt32] = [:]

    private(set) var tasksByService: [String: Set<String>] = [:]
    /// Every task that has a node, stopped ones included.
    private(set) var tasksByNode: [String: Set<String>] = [:]
    /// Tasks not stopped, per node; per service and node; per node and network.
    private(set) var liveByNode: [String: Int] = [:]
    private(set) var liveByServiceNode: [String: [String: Int]] = [:]
    private(set) var liveNetworksByNode: [String: [String: Int]] = [:]
    /// Host ports ("tcp/80") held by tasks not stopped, per node.
    private(set) var hostPortsByNode: [String: [String: Int]] = [:]
    /// Networks of tasks that should run and wait for a node.
    private(set) var unplacedNetworks: [String: Int] = [:]
    /// Holders of each address, per network: gateways, VIPs, task endpoints, load balancers.
    private(set) var usedAddresses: [String: [UInt32: Int]] = [:]
    /// Pending tasks that should run (placement's work).
    private(set) var waiting: Set<String> = []
    /// Tasks not stopped that are told to drain or stop.
    private(set) var stopping: Set<String> = []
    /// Stopped tasks told to stop (history, reaped beyond `taskHistory`).
    private(set) var finished: Set<String> = []
    /// Stopped tasks that still hold an address.
    private(set) var holdingStopped: Set<String> = []
    private(set) var unhealthy: Set<String> = []
    private(set) var needsAllocation: Set<String> = []
    /// Services by lowercased name, and by published ingress port ("tcp/30000").
    private(set) var serviceNames: [String: Set<String>] = [:]
    private(set) var ingressPorts: [String: Set<String>] = [:]
    private(set) var globalServices: Set<String> = []
    private(set) var updatingServices: Set<String> = []
    /// VIP services without a VIP on one of their networks (exhausted): retried at every pass.
    private(set) var servicesMissingVIP: Set<String> = []
    /// Ready, active nodes by name, then id (placement's order).
    private(set) var eligibleNodes: [String] = []
    /// False for an index never built: the store's committed snapshots drop theirs, so the next
    /// write does not copy every index map the snapshot shared (`ClusterState.syncIndex` builds it).
    private(set) var built = false

    init() {}

    /// The indexes of `state` built from nothing.
    init(rebuiltFrom state: ClusterState) {
        built = true
        for (id, node) in state.nodes { update(node: id, node) }
        for (id, network) in state.networks { update(network: id, network) }
        for (id, service) in state.services { update(service: id, service) }
        for (id, task) in state.tasks { update(task: id, task) }
    }

    // MARK: upkeep

    mutating func update(task id: String, _ task: ClusterTask?) {
        let new = task.map(TaskEntry.init)
        let old = tasks[id]
        guard old != new else { return }
        if let old { count(old, id: id, by: -1) }
        if let new { count(new, id: id, by: 1) }
        tasks[id] = new
    }

    private mutating func count(_ entry: TaskEntry, id: String, by delta: Int) {
        tasksByService.mark(id, in: entry.serviceID, delta > 0)
        if let nodeID = entry.nodeID {
            tasksByNode.mark(id, in: nodeID, delta > 0)
            if entry.live {
                liveByNode.bump(nodeID, by: delta)
                liveByServiceNode.bump(nodeID, in: entry.serviceID, by: delta)
                for networkID in entry.networkIDs {
                    liveNetworksByNode.bump(networkID, in: nodeID, by: delta)
                }
                for port in entry.hostPorts { hostPortsByNode.bump(port, in: nodeID, by: delta) }
            }
        }
        if entry.unplaced {
            for networkID in entry.networkIDs { unplacedNetworks.bump(networkID, by: delta) }
        }
        usedAddresses.bump(entry.addresses, by: delta)
        waiting.mark(id, entry.waiting && delta > 0)
        stopping.mark(id, entry.stopping && delta > 0)
        finished.mark(id, entry.finished && delta > 0)
        holdingStopped.mark(id, !entry.live && !entry.addresses.isEmpty && delta > 0)
        unhealthy.mark(id, entry.unhealthy && delta > 0)
        needsAllocation.mark(id, entry.needsAllocation && delta > 0)
    }

    mutating func update(node id: String, _ node: Node?) {
        let new = node.map(NodeEntry.init)
        let old = nodes[id]
        guard old != new else { return }
        usedAddresses.bump(old?.loadBalancers ?? [], by: -1)
        usedAddresses.bump(new?.loadBalancers ?? [], by: 1)
        nodes[id] = new
        if old?.eligible != new?.eligible || (new?.eligible == true && old?.name != new?.name) {
            eligibleNodes = nodes.filter(\.value.eligible).map { (name: $0.value.name, id: $0.key) }
                .sorted { ($0.name, $0.id) < ($1.name, $1.id) }.map(\.id)
        }
    }

    mutating func update(service id: String, _ service: Service?) {
        let new = service.map(ServiceEntry.init)
        let old = services[id]
        guard old != new else { return }
        usedAddresses.bump(old?.virtualIPs ?? [], by: -1)
        usedAddresses.bump(new?.virtualIPs ?? [], by: 1)
        if let old {
            serviceNames.mark(id, in: old.foldedName, false)
            for port in old.ingressPorts { ingressPorts.mark(id, in: port, false) }
        }
        if let new {
            serviceNames.mark(id, in: new.foldedName, true)
            for port in new.ingressPorts { ingressPorts.mark(id, in: port, true) }
        }
        globalServices.mark(id, new?.global == true)
        updatingServices.mark(id, new?.updating == true)
        servicesMissingVIP.mark(id, new?.missingVIP == true)
        services[id] = new
    }

    mutating func update(network id: String, _ network: Network?) {
        let new = network?.gateway.value
        let old = gateways[id]
        guard old != new else { return }
        if let old { usedAddresses.bump(old, in: id, by: -1) }
        if let new { usedAddresses.bump(new, in: id, by: 1) }
        gateways[id] = new
    }
}

/// Ids changed by writes no reconcile pass has covered yet, kept in the state between writes.
struct Unreconciled: Sendable {
    var tasks: Set<String> = []
    var services: Set<String> = []
    var nodes: Set<String> = []
    var networks: Set<String> = []
    /// A pass ran in the current write: what the write changed is covered.
    var coveredByPass = false

    mutating func formUnion(_ other: Unreconciled) {
        tasks.formUnion(other.tasks)
        services.formUnion(other.services)
        nodes.formUnion(other.nodes)
        networks.formUnion(other.networks)
    }
}

extension Set {
    fileprivate mutating func mark(_ member: Element, _ present: Bool) {
        if present { insert(member) } else { remove(member) }
    }
}

extension Dictionary {
    /// Adds or removes `member` in the set under `key` (in place); an empty set leaves the map.
    fileprivate mutating func mark<Member>(_ member: Member, in key: Key, _ present: Bool)
    where Value == Set<Member> {
        if present {
            self[key, default: []].insert(member)
        } else if self[key]?.remove(member) != nil, self[key]?.isEmpty == true {
            self[key] = nil
        }
    }

    /// Moves a count; a count of zero leaves the map.
    fileprivate mutating func bump(_ key: Key, by delta: Int) where Value == Int {
        let value = self[key, default: 0] + delta
        self[key] = value == 0 ? nil : value
    }

    /// Moves a count in the map under `outer` (in place); an empty map leaves this one.
    fileprivate mutating func bump<Inner: Hashable>(_ key: Inner, in outer: Key, by delta: Int)
    where Value == [Inner: Int] {
        self[outer, default: [:]].bump(key, by: delta)
        if self[outer]?.isEmpty == true { self[outer] = nil }
    }

    /// Moves the count of every held address (task addresses, load balancers, VIPs) in its network.
    fileprivate mutating func bump(_ held: [ClusterIndex.NetworkAddress], by delta: Int)
    where Key == String, Value == [UInt32: Int] {
        for entry in held { bump(entry.address, in: entry.networkID, by: delta) }
    }
}
