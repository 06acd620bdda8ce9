/// One of the node's own tasks, as the agent needs it to run the task.
public struct FeedTask: Codable, Equatable, Sendable {
    public var id: String
    public var name: String
    public var serviceID: String
    public var serviceName: String
    public var slot: Int
    public var desiredState: DesiredState
    public var spec: TaskSpec
    public var endpoints: [TaskEndpoint]

    public init(
        id: String, name: String, serviceID: String, serviceName: String, slot: Int,
        desiredState: DesiredState,
        spec: TaskSpec, endpoints: [TaskEndpoint]
    ) {
        self.id = id
        self.name = name
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.slot = slot
        self.desiredState = desiredState
        self.spec = spec
        self.endpoints = endpoints
    }
}

/// A network the node takes part in, with this node's load-balancer address on it.
public struct FeedNetwork: Codable, Equatable, Sendable {
    public var id: String
    public var name: String
    public var vni: UInt32
    public var subnet: CIDR
    public var gateway: IPv4Address
    public var mtu: Int
    public var `internal`: Bool
    public var ingress: Bool
    /// Nil until the allocator gave this node one.
    public var loadBalancerIP: IPv4Address?

    public init(
        id: String, name: String, vni: UInt32, subnet: CIDR, gateway: IPv4Address, mtu: Int, internal: Bool,
        ingress: Bool, loadBalancerIP: IPv4Address?
    ) {
        self.id = id
        self.name = name
        self.vni = vni
        self.subnet = subnet
        self.gateway = gateway
        self.mtu = mtu
        self.internal = `internal`
        self.ingress = ingress
        self.loadBalancerIP = loadBalancerIP
    }
}

public enum EndpointState: String, Codable, Sendable {
    /// Receives traffic.
    case up
    /// Keeps its connections but gets no new ones (IPVS weight 0).
    case draining
    /// Running but not (yet) healthy: a peer like any other (FDB + neighbour), weight 0.
    case unhealthy
}

/// A task endpoint on a network: a peer to program (FDB + neighbour) and a backend for its service.
public struct FeedEndpoint: Codable, Equatable, Sendable {
    public var networkID: String
    public var taskID: String
    public var taskName: String
    public var serviceID: String
    public var serviceName: String
    public var aliases: [String]
    public var address: IPv4Address
    public var mac: MACAddress
    public var nodeID: String
    /// The underlay address of the endpoint's node (the remote VTEP).
    public var nodeAddress: IPv4Address
    public var state: EndpointState

    public init(
        networkID: String, taskID: String, taskName: String, serviceID: String, serviceName: String,
        aliases: [String], address: IPv4Address, mac: MACAddress, nodeID: String, nodeAddress: IPv4Address,
        state: EndpointState
    ) {
        self.networkID = networkID
        self.taskID = taskID
        self.taskName = taskName
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.aliases = aliases
        self.address = address
        self.mac = mac
        self.nodeID = nodeID
        self.nodeAddress = nodeAddress
        self.state = state
    }
}

/// A node's load-balancer address on a network: a peer too (replies to SNATed traffic go back to it).
public struct FeedLoadBalancer: Codable, Equatable, Sendable {
    public var networkID: String
    public var nodeID: String
    public var nodeAddress: IPv4Address
    public var address: IPv4Address
    public var mac: MACAddress

    public init(
        networkID: String, nodeID: String, nodeAddress: IPv4Address, address: IPv4Address, mac: MACAddress
    ) {
        self.networkID = networkID
        self.nodeID = nodeID
        self.nodeAddress = nodeAddress
        self.address = address
        self.mac = mac
    }
}

/// A service on a network: its names, its VIP (mode vip) and its published ports.
public struct FeedService: Codable, Equatable, Sendable {
    public var networkID: String
    public var serviceID: String
    public var serviceName: String
    public var aliases: [String]
    public var endpointMode: EndpointMode
    /// Nil for dnsrr, and for vip until the allocator gave one.
    public var virtualIP: IPv4Address?
    public var ports: [PortConfig]
    /// Named ports the service exposes on its networks without publishing them (SRV records).
    public var exposed: [ExposedPort]?
    /// The IPVS scheduler; nil (and absent in older feeds) is round robin.
    public var scheduler: LoadBalancingScheduler?

    public init(
        networkID: String, serviceID: String, serviceName: String, aliases: [String],
        endpointMode: EndpointMode,
        virtualIP: IPv4Address?, ports: [PortConfig], exposed: [ExposedPort]? = nil,
        scheduler: LoadBalancingScheduler? = nil
    ) {
        self.networkID = networkID
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.aliases = aliases
        self.endpointMode = endpointMode
        self.virtualIP = virtualIP
        self.ports = ports
        self.exposed = exposed
        self.scheduler = scheduler
    }
}

/// One object of a node's view. Encoded flat with a `kind` field.
public enum FeedObject: Equatable, Sendable {
    case task(FeedTask)
    case network(FeedNetwork)
    case endpoint(FeedEndpoint)
    case loadBalancer(FeedLoadBalancer)
    case service(FeedService)

    /// Unique within a view; removals name objects by it.
    public var key: String {
        switch self {
        case .task(let task): "task/\(task.id)"
        case .network(let network): "network/\(network.id)"
        case .endpoint(let endpoint): "endpoint/\(endpoint.networkID)/\(endpoint.taskID)"
        case .loadBalancer(let lb): "lb/\(lb.networkID)/\(lb.nodeID)"
        case .service(let service): "service/\(service.networkID)/\(service.serviceID)"
        }
    }
}

extension FeedObject: Codable {
    private enum Kind: String, Codable {
        case task, network, endpoint, loadBalancer, service
    }

    private enum CodingKeys: String, CodingKey {
        case kind
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .task: self = .task(try FeedTask(from: decoder))
        case .network: self = .network(try FeedNetwork(from: decoder))
        case .endpoint: self = .endpoint(try FeedEndpoint(from: decoder))
        case .loadBalancer: self = .loadBalancer(try FeedLoadBalancer(from: decoder))
        case .service: self = .service(try FeedService(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .task(let value):
            try container.encode(Kind.task, forKey: .kind)
            try value.encode(to: encoder)
        case .network(let value):
            try container.encode(Kind.network, forKey: .kind)
            try value.encode(to: encoder)
        case .endpoint(let value):
            try container.encode(Kind.endpoint, forKey: .kind)
            try value.encode(to: encoder)
        case .loadBalancer(let value):
            try container.encode(Kind.loadBalancer, forKey: .kind)
            try value.encode(to: encoder)
        case .service(let value):
            try container.encode(Kind.service, forKey: .kind)
            try value.encode(to: encoder)
        }
    }
}

/// A change in an INCREMENTAL message.
public struct FeedChange: Codable, Equatable, Sendable {
    public enum Op: String, Codable, Sendable {
        case upsert, remove
    }

    public var op: Op
    public var key: String
    /// The whole new object for upserts; absent for removes.
    public var object: FeedObject?

    public static func upsert(_ object: FeedObject) -> FeedChange {
        FeedChange(op: .upsert, key: object.key, object: object)
    }

    public static func remove(_ key: String) -> FeedChange { FeedChange(op: .remove, key: key, object: nil) }
}

/// One line of the feed stream.
public struct FeedMessage: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case complete, incremental, keepalive
    }

    public var type: Kind
    /// COMPLETE and KEEPALIVE: the revision the node's view is at.
    public var revision: UInt64?
    /// INCREMENTAL: the revision the changes apply on, and the one they lead to.
    public var from: UInt64?
    public var to: UInt64?
    /// COMPLETE: the whole view.
    public var objects: [FeedObject]?
    /// INCREMENTAL: the changes, in order.
    public var changes: [FeedChange]?
    /// The identity of the store whose revisions these are (every message carries it). Resume
    /// with `since=R&store=S`: when S is not the manager's store, the answer is a COMPLETE.
    public var store: String?

    public static func complete(revision: UInt64, objects: [FeedObject], store: String? = nil) -> FeedMessage
    {
        FeedMessage(type: .complete, revision: revision, objects: objects, store: store)
    }

    public static func incremental(from: UInt64, to: UInt64, changes: [FeedChange], store: String? = nil)
        -> FeedMessage
    {
        FeedMessage(type: .incremental, from: from, to: to, changes: changes, store: store)
    }

    public static func keepalive(revision: UInt64, store: String? = nil) -> FeedMessage {
        FeedMessage(type: .keepalive, revision: revision, store: store)
    }
}

/// The agent's side of the feed: a view kept up to date from messages, noticing gaps.
public struct FeedView: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        case applied
        /// An INCREMENTAL that does not start where the view is: reconnect with `since=revision`.
        case gap(expected: UInt64, got: UInt64)
        case keepalive
    }

    public private(set) var revision: UInt64?
    /// The store the revision belongs to (from the last COMPLETE); send it back as `store=` on resume.
    public private(set) var store: String?
    public private(set) var objects: [String: FeedObject] = [:]

    public init() {}

    /// The query that resumes this view: `since=R&store=S`, nil before the first COMPLETE.
    public var resumeQuery: String? {
        guard let revision else { return nil }
        return "since=\(revision)" + (store.map { "&store=\($0)" } ?? "")
    }

    public mutating func apply(_ message: FeedMessage) -> Outcome {
        switch message.type {
        case .complete:
            objects = Dictionary(
                (message.objects ?? []).map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
            revision = message.revision
            store = message.store
            return .applied
        case .incremental:
            let from = message.from ?? 0
            // Revisions of another store's history are a gap too, whatever their numbers.
            guard let current = revision, current == from, message.store == nil || message.store == store
            else {
                return .gap(expected: revision ?? 0, got: from)
            }
            for change in message.changes ?? [] {
                switch change.op {
                case .upsert: objects[change.key] = change.object
                case .remove: objects[change.key] = nil
                }
            }
            revision = message.to
            return .applied
        case .keepalive:
            return .keepalive
        }
    }
}

/// The changes that turn one view into another: removals first, then upserts, each sorted by key.
public func feedDiff(from old: [String: FeedObject], to new: [String: FeedObject]) -> [FeedChange] {
    let removed = old.keys.filter { new[$0] == nil }.sorted().map(FeedChange.remove)
    let upserted = new.keys.sorted().compactMap { key -> FeedChange? in
        guard let object = new[key], old[key] != object else { return nil }
        return .upsert(object)
    }
    return removed + upserted
}
