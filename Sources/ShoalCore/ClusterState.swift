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

    public init() {}

    public var ingressNetwork: Network? { networks.values.first { $0.ingress } }

    public func network(named nameOrID: String) -> Network? {
        networks[nameOrID] ?? networks.values.first { $0.name == nameOrID }
    }

    public func service(named nameOrID: String) -> Service? {
        services[nameOrID] ?? services.values.first { $0.spec.name == nameOrID }
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
