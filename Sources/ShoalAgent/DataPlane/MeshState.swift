import ShoalModel

/// One IPVS virtual service of a network namespace: a service VIP, as a firewall-mark service that
/// covers every port of the VIP (docs/mesh.md says why).
public struct MeshService: Equatable, Codable, Sendable {
    public var mark: UInt32
    public var vip: IPv4Address
    public var name: String
    public var scheduler: String
    /// Task address -> weight: 1 while the endpoint is up, 0 while it drains.
    public var destinations: [IPv4Address: UInt32]

    public init(
        mark: UInt32, vip: IPv4Address, name: String, scheduler: String, destinations: [IPv4Address: UInt32]
    ) {
        self.mark = mark
        self.vip = vip
        self.name = name
        self.scheduler = scheduler
        self.destinations = destinations
    }
}

/// The load balancer in one network namespace: the node's LB address on `br0` (with the MAC other
/// nodes program for it), every VIP as a /32, the nft table that marks and SNATs, the IPVS services.
public struct DesiredBalancer: Equatable, Codable, Sendable {
    public var networkID: String
    public var address: IPv4Address
    public var prefixLength: Int
    /// By firewall mark.
    public var services: [UInt32: MeshService]

    public var mac: MACAddress { MACAddress(derivedFrom: address) }
    public var vips: Set<IPv4Address> { Set(services.values.map(\.vip)) }
}

/// What the mesh wants on this node: a balancer per network namespace the node has.
public struct DesiredMesh: Equatable, Codable, Sendable {
    public var balancers: [String: DesiredBalancer] = [:]

    public init() {}

    /// From the feed view, for the networks whose namespace exists (`networks`). A network gets a
    /// balancer once the allocator gave this node its LB address there; a service gets a virtual
    /// service when it is in mode vip with a VIP, and every endpoint of it on the network, on any
    /// node, is a destination. Only an endpoint whose state is `.up` gets weight > 0.
    public init(view: [String: FeedObject], networks: Set<String>) {
        var feedNetworks: [String: FeedNetwork] = [:]
        var services: [FeedService] = []
        var endpoints: [String: [FeedEndpoint]] = [:]
        for object in view.values {
            switch object {
            case .network(let network) where networks.contains(network.id): feedNetworks[network.id] = network
            case .service(let service) where networks.contains(service.networkID): services.append(service)
            case .endpoint(let endpoint) where networks.contains(endpoint.networkID):
                endpoints["\(endpoint.networkID)/\(endpoint.serviceID)", default: []].append(endpoint)
            default: break
            }
        }
        for network in feedNetworks.values {
            guard let address = network.loadBalancerIP else { continue }
            balancers[network.id] = DesiredBalancer(
                networkID: network.id, address: address, prefixLength: network.subnet.prefixLength,
                services: [:])
        }
        for service in services {
            guard service.endpointMode == .vip, let vip = service.virtualIP,
                let network = feedNetworks[service.networkID], balancers[network.id] != nil
            else { continue }
            var destinations: [IPv4Address: UInt32] = [:]
            for endpoint in endpoints["\(service.networkID)/\(service.serviceID)"] ?? [] {
                destinations[endpoint.address] = endpoint.state == .up ? 1 : 0
            }
            let mark = MeshNames.mark(vip: vip, subnet: network.subnet)
            balancers[network.id]?.services[mark] = MeshService(
                mark: mark, vip: vip, name: service.serviceName,
                scheduler: (service.scheduler ?? .rr).rawValue, destinations: destinations)
        }
    }
}

/// A destination as read back: its weight and connection counts.
public struct ObservedDestination: Equatable, Codable, Sendable {
    public var weight: UInt32
    /// TCP connections in ESTABLISHED (ipvsadm's ActiveConn): what a drain waits for.
    public var active: UInt32

    public init(weight: UInt32, active: UInt32 = 0) {
        self.weight = weight
        self.active = active
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

    public init() {}
}

/// A destination of a virtual service in a network namespace.
public struct MeshDestinationKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var network: String
    public var mark: UInt32
    public var address: IPv4Address

    public init(network: String, mark: UInt32, address: IPv4Address) {
        self.network = network
        self.mark = mark
        self.address = address
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.network, lhs.mark, lhs.address.value) < (rhs.network, rhs.mark, rhs.address.value)
    }

    public var description: String { "\(network)/FWM \(mark)/\(address)" }
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

    /// The sysctls set in every network namespace with a balancer (docs/mesh.md says why).
    public static let sysctls: [(String, String)] = [
        ("net.ipv4.vs.conntrack", "1"),
        ("net.ipv4.vs.conn_reuse_mode", "1"),
        ("net.ipv4.vs.expire_nodest_conn", "1"),
        ("net.ipv4.vs.expire_quiescent_template", "1"),
        ("net.ipv4.ip_forward", "1"),
    ]
}
