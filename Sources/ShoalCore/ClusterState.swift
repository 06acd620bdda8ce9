import ShoalModel

/// Where the allocator continues: each kind of resource is handed out in order after the last one.
public struct AllocatorCursors: Codable, Equatable, Sendable, Identifiable {
    public var id: String = "cluster"
    public var version: UInt64 = 0
    public var lastVNI: UInt32?
    public var lastSubnet: UInt32?
    /// Last address handed out, per network id.
    public var lastAddress: [String: UInt32] = [:]
    public var lastPort: UInt16?
    /// Addresses not handed out again before a time: those of tasks on a removed node, whose
    /// processes may still run and answer on them (nil when none).
    public var quarantined: [QuarantinedAddress]?

    public init() {}
}

/// An address kept out of use until `until` (seconds since 1970).
public struct QuarantinedAddress: Codable, Equatable, Sendable {
    public var networkID: String
    public var address: IPv4Address
    public var until: Double
    /// Who held it, for the "holds" count and for operators reading the cursors.
    public var holder: String

    public init(networkID: String, address: IPv4Address, until: Double, holder: String) {
        self.networkID = networkID
        self.address = address
        self.until = until
        self.holder = holder
    }
}

/// Every object of the cluster. Small enough to hold in memory; the store makes it durable.
public struct ClusterState: Codable, Equatable, Sendable {
    public var nodes: ObjectMap<Node> = [:]
    public var networks: ObjectMap<Network> = [:]
    public var services: ObjectMap<Service> = [:]
    public var tasks: ObjectMap<ClusterTask> = [:]
    public var cursors = AllocatorCursors()
    /// Kept up to date by `syncIndex` and each commit; neither stored nor compared.
    var index = ClusterIndex()
    /// What committed writes changed that no reconcile pass has covered yet.
    var unreconciled = Unreconciled()

    public init() {}

    enum CodingKeys: String, CodingKey { case nodes, networks, services, tasks, cursors }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nodes = try container.decode(ObjectMap<Node>.self, forKey: .nodes)
        networks = try container.decode(ObjectMap<Network>.self, forKey: .networks)
        services = try container.decode(ObjectMap<Service>.self, forKey: .services)
        tasks = try container.decode(ObjectMap<ClusterTask>.self, forKey: .tasks)
        cursors = try container.decode(AllocatorCursors.self, forKey: .cursors)
        index = ClusterIndex(rebuiltFrom: self)
    }

    /// Equal objects and cursors; the indexes follow from them.
    public static func == (lhs: ClusterState, rhs: ClusterState) -> Bool {
        lhs.nodes == rhs.nodes && lhs.networks == rhs.networks && lhs.services == rhs.services
            && lhs.tasks == rhs.tasks && lhs.cursors == rhs.cursors
    }

    /// Lets go of the indexes (a snapshot that only readers use); the next pass on this state
    /// builds them again. A write sharing them with a snapshot would copy every index map.
    mutating func dropIndexes() { index = ClusterIndex() }

    /// Brings the indexes up to date with every object touched since the last commit.
    mutating func syncIndex() {
        guard index.built else {
            index = ClusterIndex(rebuiltFrom: self)
            return
        }
        for id in tasks.touchedIDs { index.update(task: id, tasks[id]) }
        for id in nodes.touchedIDs { index.update(node: id, nodes[id]) }
        for id in services.touchedIDs { index.update(service: id, services[id]) }
        for id in networks.touchedIDs { index.update(network: id, networks[id]) }
    }

    /// Ids changed since the last pass: by earlier commits, and touched in this write so far.
    var changedSinceLastPass: Unreconciled {
        var changed = unreconciled
        changed.tasks.formUnion(tasks.touchedIDs)
        changed.services.formUnion(services.touchedIDs)
        changed.nodes.formUnion(nodes.touchedIDs)
        changed.networks.formUnion(networks.touchedIDs)
        return changed
    }

    public var ingressNetwork: Network? { networks.values.first { $0.ingress } }

    public func network(named nameOrID: String) -> Network? {
        networks[nameOrID] ?? networks.values.first { $0.name == nameOrID }
    }

    public func service(named nameOrID: String) -> Service? {
        if let service = services[nameOrID] { return service }
        // The name index may lag this write's own changes: a miss there looks at every service.
        for id in index.serviceNames[nameOrID.lowercased()] ?? [] {
            if let service = services[id], service.spec.name == nameOrID { return service }
        }
        return services.values.first { $0.spec.name == nameOrID }
    }

    /// Services that share `name` ignoring case, or whose id is `name` (for `checkUniqueName`).
    mutating func servicesClashing(with name: String) -> [(id: String, name: String)] {
        syncIndex()
        var ids = index.serviceNames[name.lowercased()] ?? []
        if services[name] != nil { ids.insert(name) }
        return ids.sorted().compactMap { id in services[id].map { (id, $0.spec.name) } }
    }

    public func node(named nameOrID: String) -> Node? {
        nodes[nameOrID] ?? nodes.values.first { $0.name == nameOrID }
    }

    public func task(named nameOrID: String) -> ClusterTask? {
        tasks[nameOrID] ?? tasks.values.first { $0.name == nameOrID }
    }
}

/// The kinds of stored objects; the change log names objects by kind and id.
public enum ObjectKind: String, Codable, Sendable, CaseIterable {
    case node, network, service, task, cursors
}

/// One object's change at one revision. `before`/`after` are its JSON (nil: absent), so the
/// state at an older revision can be rebuilt by undoing changes.
public struct ObjectChange: Codable, Equatable, Sendable {
    public var revision: UInt64
    public var kind: ObjectKind
    public var id: String
    public var before: [UInt8]?
    public var after: [UInt8]?

    public init(revision: UInt64, kind: ObjectKind, id: String, before: [UInt8]?, after: [UInt8]?) {
        self.revision = revision
        self.kind = kind
        self.id = id
        self.before = before
        self.after = after
    }
}
