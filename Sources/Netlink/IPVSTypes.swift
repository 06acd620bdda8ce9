/// The transport protocol of a virtual service.
public enum IPVSProtocol: UInt16, Sendable, Hashable {
    case tcp = 6
    case udp = 17
    case sctp = 132
}

/// IPv4 or IPv6, for keys that carry no address.
public enum AddressFamily: Sendable, Hashable {
    case ipv4
    case ipv6

    var value: UInt16 { self == .ipv4 ? 2 : 10 }  // AF_INET, AF_INET6
}

/// What identifies a virtual service in the kernel.
public enum ServiceKey: Sendable, Hashable, CustomStringConvertible {
    case address(IPVSProtocol, IPAddress, port: UInt16)
    case firewallMark(UInt32, family: AddressFamily = .ipv4)

    public var family: AddressFamily {
        switch self {
        case .address(_, let address, _): address.isIPv4 ? .ipv4 : .ipv6
        case .firewallMark(_, let family): family
        }
    }

    public var description: String {
        switch self {
        case .address(let proto, let address, let port):
            let host = address.isIPv4 ? "\(address)" : "[\(address)]"
            return "\(proto == .tcp ? "TCP" : proto == .udp ? "UDP" : "SCTP") \(host):\(port)"
        case .firewallMark(let mark, _): return "FWM \(mark)"
        }
    }
}

/// Traffic counters as the kernel keeps them.
public struct IPVSStats: Sendable, Hashable {
    public var connections: UInt64 = 0
    public var packetsIn: UInt64 = 0
    public var packetsOut: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var connectionsPerSecond: UInt64 = 0
    public var packetsInPerSecond: UInt64 = 0
    public var packetsOutPerSecond: UInt64 = 0
    public var bytesInPerSecond: UInt64 = 0
    public var bytesOutPerSecond: UInt64 = 0

    public init() {}
}

/// An IPVS virtual service. `==` compares what a caller sets: not the stats, and the flags
/// without the kernel's own bits (IP_VS_SVC_F_HASHED), so a read-back service equals the desired one.
public struct VirtualService: Sendable, Hashable {
    public var key: ServiceKey
    public var scheduler: String
    /// IP_VS_SVC_F_* (e.g. 0x1 persistent).
    public var flags: UInt32
    /// Persistence timeout in seconds.
    public var timeout: UInt32
    /// Persistence netmask: a mask for IPv4, a prefix length for IPv6.
    public var netmask: UInt32
    /// Read back from the kernel; ignored when writing.
    public var stats: IPVSStats?

    public init(
        key: ServiceKey, scheduler: String = "rr", flags: UInt32 = 0, timeout: UInt32 = 0,
        netmask: UInt32? = nil, stats: IPVSStats? = nil
    ) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags
        self.timeout = timeout
        self.netmask = netmask ?? (key.family == .ipv4 ? 0xffff_ffff : 128)
        self.stats = stats
    }

    /// IP_VS_SVC_F_HASHED: the kernel sets it on every service in its table.
    public static let kernelFlags: UInt32 = 0x0002

    public static func == (lhs: VirtualService, rhs: VirtualService) -> Bool {
        lhs.key == rhs.key && lhs.scheduler == rhs.scheduler
            && lhs.flags & ~kernelFlags == rhs.flags & ~kernelFlags && lhs.timeout == rhs.timeout
            && lhs.netmask == rhs.netmask
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
        hasher.combine(scheduler)
        hasher.combine(flags & ~VirtualService.kernelFlags)
        hasher.combine(timeout)
        hasher.combine(netmask)
    }
}

/// How a destination is reached.
public enum ForwardingMethod: UInt32, Sendable, Hashable {
    case masquerade = 0
    case local = 1
    case tunnel = 2
    case directRoute = 3
}

/// A real server behind a virtual service. `==` compares what a caller sets, not the
/// connection counts or stats the kernel reports.
public struct Destination: Sendable, Hashable {
    public var address: IPAddress
    public var port: UInt16
    public var forwarding: ForwardingMethod
    public var weight: UInt32
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    /// Read back from the kernel; ignored when writing.
    public var activeConnections: UInt32
    public var inactiveConnections: UInt32
    public var persistentConnections: UInt32
    public var stats: IPVSStats?

    public init(
        address: IPAddress, port: UInt16, forwarding: ForwardingMethod = .masquerade, weight: UInt32 = 1,
        upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0
    ) {
        self.address = address
        self.port = port
        self.forwarding = forwarding
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        activeConnections = 0
        inactiveConnections = 0
        persistentConnections = 0
        stats = nil
    }

    public static func == (lhs: Destination, rhs: Destination) -> Bool {
        lhs.address == rhs.address && lhs.port == rhs.port && lhs.forwarding == rhs.forwarding
            && lhs.weight == rhs.weight && lhs.upperThreshold == rhs.upperThreshold
            && lhs.lowerThreshold == rhs.lowerThreshold
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(port)
        hasher.combine(forwarding)
        hasher.combine(weight)
        hasher.combine(upperThreshold)
        hasher.combine(lowerThreshold)
    }
}

/// GET_INFO: the IPVS version and the connection table size.
public struct IPVSInfo: Sendable, Hashable {
    /// Encoded as (major << 16) | (minor << 8) | patch, e.g. 0x010201 for 1.2.1.
    public var version: UInt32
    public var connectionTableSize: UInt32

    public var versionString: String { "\(version >> 16).\((version >> 8) & 0xff).\(version & 0xff)" }
}

/// GET/SET_CONFIG: connection timeouts in seconds (0 in SET means "leave as is").
public struct IPVSTimeouts: Sendable, Hashable {
    public var tcp: UInt32
    public var tcpFin: UInt32
    public var udp: UInt32

    public init(tcp: UInt32, tcpFin: UInt32, udp: UInt32) {
        self.tcp = tcp
        self.tcpFin = tcpFin
        self.udp = udp
    }
}

/// One change in an IPVS batch.
public enum IPVSRequest: Sendable, Hashable {
    case addService(VirtualService)
    case updateService(VirtualService)
    case deleteService(ServiceKey)
    case addDestination(ServiceKey, Destination)
    case updateDestination(ServiceKey, Destination)
    case deleteDestination(ServiceKey, IPAddress, port: UInt16)
    case flush
}
