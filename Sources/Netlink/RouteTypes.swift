/// rtm_protocol: who installed a route. Shoal writes `.shoal` so it finds its own routes and
/// leaves everyone else's alone (`ip route show proto 83`).
public struct RouteProtocol: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let unspecified = RouteProtocol(rawValue: 0)
    public static let redirect = RouteProtocol(rawValue: 1)
    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)
    public static let dhcp = RouteProtocol(rawValue: 16)
    /// Shoal's own number: unassigned in iproute2's rt_protos and the kernel's RTPROT_* list.
    public static let shoal = RouteProtocol(rawValue: 83)

    public var description: String { "proto \(rawValue)" }
}

/// rtm_scope: how far the destination is.
public struct RouteScope: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let universe = RouteScope(rawValue: 0)
    public static let site = RouteScope(rawValue: 200)
    public static let link = RouteScope(rawValue: 253)
    public static let host = RouteScope(rawValue: 254)
    public static let nowhere = RouteScope(rawValue: 255)
}

/// rtm_type: what the kernel does with matching packets.
public struct RouteType: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let unicast = RouteType(rawValue: 1)
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let anycast = RouteType(rawValue: 4)
    public static let multicast = RouteType(rawValue: 5)
    public static let blackhole = RouteType(rawValue: 6)
    public static let unreachable = RouteType(rawValue: 7)
    public static let prohibit = RouteType(rawValue: 8)
}

/// A route with at most one next hop. A desired value compares equal to what `routes()` reads
/// back for it, with two kernel habits to know: IPv6 routes get metric 1024 when none is given,
/// and connected routes the kernel makes carry `.kernel` and a preferred source Shoal ignores.
public struct Route: Sendable, Hashable {
    public static let mainTable: UInt32 = 254

    public var destination: IPAddress
    public var prefixLength: UInt8
    public var gateway: IPAddress?
    public var device: String?
    /// RTNH_F_ONLINK: the gateway is on the link even if no address says so.
    public var onlink: Bool
    public var table: UInt32
    public var metric: UInt32?
    public var `protocol`: RouteProtocol
    public var scope: RouteScope
    public var type: RouteType

    /// `scope` defaults as `ip route add` chooses it: link for a unicast route straight to a
    /// device, universe otherwise.
    public init(
        destination: IPAddress, prefixLength: UInt8, gateway: IPAddress? = nil, device: String? = nil,
        onlink: Bool = false, table: UInt32 = Route.mainTable, metric: UInt32? = nil,
        protocol: RouteProtocol = .shoal, scope: RouteScope? = nil, type: RouteType = .unicast
    ) {
        self.destination = destination
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.device = device
        self.onlink = onlink
        self.table = table
        self.metric = metric
        self.protocol = `protocol`
        self.type = type
        self.scope = scope ?? (gateway == nil && device != nil && type == .unicast ? .link : .universe)
    }
}
