import ShoalModel

/// A port published in ingress mode, as the ingress namespace's rules match it.
public struct PublishedPort: Hashable, Codable, Sendable, Comparable {
    public var proto: PortProtocol
    public var port: UInt16

    public init(_ proto: PortProtocol, _ port: UInt16) {
        self.proto = proto
        self.port = port
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.proto.rawValue, lhs.port) < (rhs.proto.rawValue, rhs.port)
    }
}

/// One IPVS virtual service of a network namespace, keyed by firewall mark: a service VIP (every
/// port of the VIP, docs/mesh.md says why) or, in the ingress namespace, one published port.
public struct MeshService: Equatable, Codable, Sendable {
    public var mark: UInt32
    /// The VIP whose traffic carries the mark; nil for a published port.
    public var vip: IPv4Address?
    /// The published port whose traffic carries the mark (ingress namespace only).
    public var published: PublishedPort?
    /// The destination port: 0 keeps the port the client asked for (VIP), else the target port.
    public var port: UInt16
    public var name: String
    public var scheduler: String
    /// Task address -> weight: 1 while the endpoint is up, 0 while it drains.
    public var destinations: [IPv4Address: UInt32]

    public init(
        mark: UInt32, vip: IPv4Address?, published: PublishedPort? = nil, port: UInt16 = 0, name: String,
        scheduler: String, destinations: [IPv4Address: UInt32]
    ) {
        self.mark = mark
        self.vip = vip
        self.published = published
        self.port = port
        self.name = name
        self.scheduler = scheduler
        self.destinations = destinations
    }
}

/// A DNAT on the node's own addresses: a published port to the ingress namespace, or a host-mode
/// port straight to a local task (its egress address).
public struct HostPort: Hashable, Codable, Sendable, Comparable {
    public var published: PublishedPort
    public var address: IPv4Address
    public var port: UInt16

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.published < rhs.published }
}

/// The load balancer in one network namespace: the node's LB address on `br0` (with the MAC other
/// nodes program for it), every VIP as a /32, the nft table that marks and SNATs, the IPVS services.
public struct DesiredBalancer: Equatable, Codable, Sendable {
    public var networkID: String
    public var address: IPv4Address
    public var prefixLength: Int
    /// By firewall mark.
    public var services: [UInt32: MeshService]
    /// The ingress namespace only: its address on the node's gateway bridge (`gw0`), where the
    /// node's published ports are DNATed to.
    public var ingress: IngressLink?

    public var mac: MACAddress { MACAddress(derivedFrom: address) }
    public var vips: Set<IPv4Address> { Set(services.values.compactMap(\.vip)) }
}

/// The ingress namespace's leg on the node's gateway bridge.
public struct IngressLink: Equatable, Codable, Sendable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var gateway: IPv4Address
}

/// What the mesh wants on this node: a balancer per network namespace the node has.
public struct DesiredMesh: Equatable, Codable, Sendable {
    public var balancers: [String: DesiredBalancer] = [:]
    /// The node namespace's DNATs (table `shoal_ingress`), sorted.
    public var hostPorts: [HostPort] = []

    public init() {}

    /// From the feed view, for the networks whose namespace exists (`networks`). A network gets a
    /// balancer once the allocator gave this node its LB address there; a service gets a virtual
    /// service when it is in mode vip with a VIP, and every endpoint of it on the network, on any
    /// node, is a destination. Only an endpoint whose state is `.up` gets weight > 0.
    public init(
        view: [String: FeedObject], networks: Set<String>, egress: [String: IPv4Address] = [:],
        egressSubnet: CIDR = OverlayConfig.defaultEgressSubnet
    ) {
        var tracker = MeshDesiredTracker(egressSubnet: egressSubnet)
        tracker.rebuild(view: view, networks: networks, egress: egress)
        self = tracker.mesh
    }
}

/// A destination as read back: its weight and connection counts.
public struct ObservedDestination: Equatable, Codable, Sendable {
    public var weight: UInt32
    /// TCP connections in ESTABLISHED (ipvsadm's ActiveConn): what a drain waits for.
    public var active: UInt32
    /// The destination port: 0 for a VIP, the target port for a published port.
    public var port: UInt16

    public init(weight: UInt32, active: UInt32 = 0, port: UInt16 = 0) {
        self.weight = weight
        self.active = active
        self.port = port
    }
}

public struct ObservedMeshService: Equatable, Codable, Sendable {
    public var scheduler: String
    public var destinations: [IPv4Address: ObservedDestination]

    public init(scheduler: String, destinations: [IPv4Address: ObservedDestination] = [:]) {
        self.scheduler = scheduler
        self.destinations = destinations
    }
}

/// What a network namespace holds of the mesh.
public struct ObservedBalancer: Equatable, Codable, Sendable {
    /// `br0`'s MAC.
    public var mac: MACAddress?
    /// Addresses on `br0` with their prefix length.
    public var addresses: [IPv4Address: Int] = [:]
    /// `gw0`'s address when it is up (the ingress namespace's leg on the gateway bridge).
    public var ingress: IPv4Address?
    /// The IPVS sysctls are set (docs/mesh.md).
    public var sysctls = false
    /// The digest in the comment of Shoal's nft table, read back with `nft -j list table`.
    public var rulesDigest: String?
    /// IPVS firewall-mark services by mark.
    public var services: [UInt32: ObservedMeshService] = [:]

    public init() {}
}

public struct ObservedMesh: Equatable, Codable, Sendable {
    public var balancers: [String: ObservedBalancer] = [:]
    /// The digest comment of the node namespace's `shoal_ingress` table.
    public var hostRulesDigest: String?

    public init() {}
}

/// A destination of a virtual service in a network namespace. IPVS names a destination by
/// address and port: port 0 for a VIP (the client's port is kept), the target port for a
/// published port.
public struct MeshDestinationKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var network: String
    public var mark: UInt32
    public var address: IPv4Address
    public var port: UInt16

    public init(network: String, mark: UInt32, address: IPv4Address, port: UInt16 = 0) {
        self.network = network
        self.mark = mark
        self.address = address
        self.port = port
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.network, lhs.mark, lhs.address.value) < (rhs.network, rhs.mark, rhs.address.value)
    }

    public var description: String {
        "\(network)/FWM \(mark)/\(address)" + (port == 0 ? "" : ":\(port)")
    }
}

/// Names and numbers of the mesh's kernel objects, in one place.
public enum MeshNames {
    /// Shoal's nft table inside each network namespace.
    public static let table = "shoal_mesh"
    static let firstMark: UInt32 = 0x100

    /// A VIP's firewall mark: its offset in the network's subnet, above 0x100. Unique in the
    /// namespace, the same on every node, and stable across agent restarts (no allocation state).
    public static func mark(vip: IPv4Address, subnet: CIDR) -> UInt32 {
        firstMark + (vip.value & ~subnet.netmask)
    }

    /// The node namespace's table of DNATs for published and host-mode ports.
    public static let hostTable = "shoal_ingress"
    /// The ingress namespace's leg on the gateway bridge, and the host end of its veth.
    public static let ingressInterface = "gw0"
    public static let ingressPort = "shoal_ig0"

    /// A published port's firewall mark in the ingress namespace: above any VIP's (0x10000 and up).
    public static func mark(published: PublishedPort) -> UInt32 {
        (published.proto == .tcp ? 0x1_0000 : 0x2_0000) + UInt32(published.port)
    }

    /// The ingress namespace's address on the gateway bridge: the subnet's last host address (the
    /// agent hands task egress addresses out from the bottom).
    public static func ingressAddress(_ egressSubnet: CIDR) -> IPv4Address {
        IPv4Address(egressSubnet.broadcast.value - 1)
    }

    /// The sysctls set in every network namespace with a balancer (docs/mesh.md says why).
    public static let sysctls: [(String, String)] = [
        ("net.ipv4.vs.conntrack", "1"),
        ("net.ipv4.vs.conn_reuse_mode", "1"),
        ("net.ipv4.vs.expire_nodest_conn", "1"),
        ("net.ipv4.vs.expire_quiescent_template", "1"),
        ("net.ipv4.ip_forward", "1"),
    ]
}
