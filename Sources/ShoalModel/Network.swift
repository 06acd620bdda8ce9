/// What a user asks for when creating a network. Unset fields are chosen by the allocator.
public struct NetworkSpec: Codable, Equatable, Sendable {
    public var name: String
    public var subnet: CIDR?
    public var gateway: IPv4Address?
    /// Task and VIP addresses come from this range only (it must lie inside the subnet).
    public var ipRange: CIDR?
    public var mtu: Int?
    /// Standalone tasks may attach (kept for Swarm parity; Shoal has no standalone containers yet).
    public var attachable: Bool?
    /// No egress to the outside world.
    public var `internal`: Bool?
    /// Free-form metadata; stacks mark their networks with `shoal.stack.namespace`.
    public var labels: [String: String]?

    public init(
        name: String, subnet: CIDR? = nil, gateway: IPv4Address? = nil, ipRange: CIDR? = nil,
        mtu: Int? = nil, attachable: Bool? = nil, internal: Bool? = nil, labels: [String: String]? = nil
    ) {
        self.name = name
        self.subnet = subnet
        self.gateway = gateway
        self.ipRange = ipRange
        self.mtu = mtu
        self.attachable = attachable
        self.internal = `internal`
        self.labels = labels
    }
}

/// An overlay network with everything the allocator chose for it.
public struct Network: Codable, Equatable, Sendable, Identifiable {
    public static let defaultMTU = 1450

    public var id: String
    public var version: UInt64
    public var status: String
    public var name: String
    public var vni: UInt32
    public var subnet: CIDR
    public var gateway: IPv4Address
    public var ipRange: CIDR?
    public var mtu: Int
    public var attachable: Bool
    public var `internal`: Bool
    /// The routing-mesh network created at cluster init; it carries published ports.
    public var ingress: Bool
    public var labels: [String: String]?

    public init(
        id: String, version: UInt64 = 0, status: String = "", name: String, vni: UInt32, subnet: CIDR,
        gateway: IPv4Address, ipRange: CIDR? = nil, mtu: Int = Network.defaultMTU, attachable: Bool = false,
        internal: Bool = false, ingress: Bool = false, labels: [String: String]? = nil
    ) {
        self.id = id
        self.version = version
        self.status = status
        self.name = name
        self.vni = vni
        self.subnet = subnet
        self.gateway = gateway
        self.ipRange = ipRange
        self.mtu = mtu
        self.attachable = attachable
        self.internal = `internal`
        self.ingress = ingress
        self.labels = labels
    }

    /// The addresses tasks, VIPs and load balancers may get: the range (or subnet) without the
    /// network address, the broadcast address and the gateway.
    public var allocatableRange: ClosedRange<UInt32>? {
        let pool = ipRange ?? subnet
        var low = pool.network.value
        var high = pool.broadcast.value
        if subnet.prefixLength < 31 {
            low = max(low, subnet.network.value + 1)
            high = min(high, subnet.broadcast.value - 1)
        }
        return low <= high ? low...high : nil
    }
}
