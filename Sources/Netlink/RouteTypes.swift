/// A network interface as the kernel reports it.
public struct Link: Sendable, Hashable {
    public var index: Int32
    public var name: String
    /// The rtnetlink kind ("bridge", "vxlan", "veth", "dummy"), nil for devices without one.
    public var kind: String?
    public var mtu: UInt32
    public var mac: LinkLayerAddress?
    /// IFF_UP: administratively up.
    public var isUp: Bool
    /// The master's index (a bridge port's bridge), nil when there is none.
    public var masterIndex: Int32?
    /// The master's name when it lives in the same namespace.
    public var master: String?
    /// VXLAN settings, for kind "vxlan".
    public var vxlan: VXLANOptions?

    public init(
        index: Int32, name: String, kind: String?, mtu: UInt32, mac: LinkLayerAddress?, isUp: Bool,
        masterIndex: Int32?, master: String?, vxlan: VXLANOptions?
    ) {
        self.index = index
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.isUp = isUp
        self.masterIndex = masterIndex
        self.master = master
        self.vxlan = vxlan
    }
}

/// VXLAN device settings. The port defaults to the IANA 4789 (libnl's own default is 8472).
public struct VXLANOptions: Sendable, Hashable {
    public var vni: UInt32
    public var port: UInt16
    public var local: IPAddress?
    public var learning: Bool
    public var proxy: Bool
    public var ttl: UInt8?

    public init(
        vni: UInt32, port: UInt16 = 4789, local: IPAddress? = nil, learning: Bool = false,
        proxy: Bool = false, ttl: UInt8? = nil
    ) {
        self.vni = vni
        self.port = port
        self.local = local
        self.learning = learning
        self.proxy = proxy
        self.ttl = ttl
    }
}

/// What kind of link to create.
public enum LinkKind: Sendable, Hashable {
    case bridge
    case dummy
    case vxlan(VXLANOptions)
    /// A veth pair; the peer end is created directly in `peerNamespace`.
    case veth(peer: String, peerNamespace: NetworkNamespace = .current)
}

/// A link to create.
public struct LinkSpec: Sendable, Hashable {
    public var name: String
    public var kind: LinkKind
    public var mtu: UInt32?
    public var mac: LinkLayerAddress?
    /// Bridge to enslave the new link to (in the socket's namespace).
    public var master: String?
    public var up: Bool
    /// Create the link here and place it in another namespace in the same request. A vxlan made
    /// this way keeps its UDP socket in the namespace of the creating socket.
    public var namespace: NetworkNamespace?

    public init(
        name: String, kind: LinkKind, mtu: UInt32? = nil, mac: LinkLayerAddress? = nil,
        master: String? = nil, up: Bool = false, namespace: NetworkNamespace? = nil
    ) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.up = up
        self.namespace = namespace
    }
}

/// Changes to an existing link; nil fields are left alone.
public struct LinkChange: Sendable, Hashable {
    public enum Master: Sendable, Hashable {
        case attach(String)
        case detach
    }
    public var up: Bool?
    public var mtu: UInt32?
    public var mac: LinkLayerAddress?
    public var master: Master?
    public var namespace: NetworkNamespace?

    public init(
        up: Bool? = nil, mtu: UInt32? = nil, mac: LinkLayerAddress? = nil, master: Master? = nil,
        namespace: NetworkNamespace? = nil
    ) {
        self.up = up
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.namespace = namespace
    }
}

/// An interface address.
public struct Address: Sendable, Hashable {
    public var device: String
    public var address: IPAddress
    public var prefixLength: UInt8

    public init(device: String, address: IPAddress, prefixLength: UInt8) {
        self.device = device
        self.address = address
        self.prefixLength = prefixLength
    }
}

/// A unicast route with at most one next hop.
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

    public init(
        destination: IPAddress, prefixLength: UInt8, gateway: IPAddress? = nil, device: String? = nil,
        onlink: Bool = false, table: UInt32 = Route.mainTable, metric: UInt32? = nil
    ) {
        self.destination = destination
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.device = device
        self.onlink = onlink
        self.table = table
        self.metric = metric
    }
}

/// An ARP / NDP entry: IP -> MAC on a device.
public struct Neighbour: Sendable, Hashable {
    public static let permanentState: UInt16 = 0x80

    public var device: String
    public var address: IPAddress
    public var mac: LinkLayerAddress?
    /// NUD_* bits; entries Shoal writes are NUD_PERMANENT.
    public var state: UInt16

    public init(
        device: String, address: IPAddress, mac: LinkLayerAddress?, state: UInt16 = Neighbour.permanentState
    ) {
        self.device = device
        self.address = address
        self.mac = mac
        self.state = state
    }

    public var isPermanent: Bool { state & Neighbour.permanentState != 0 }
}

/// A bridge forwarding entry on a vxlan device: MAC -> remote VTEP (AF_BRIDGE, NTF_SELF).
public struct FDBEntry: Sendable, Hashable {
    public var device: String
    public var mac: LinkLayerAddress
    /// The remote VTEP; nil for entries without NDA_DST (e.g. on a bridge).
    public var destination: IPAddress?
    public var isPermanent: Bool
    /// NTF_SELF: the entry lives in the device's own table (vxlan), not its master's.
    public var isSelf: Bool

    public init(
        device: String, mac: LinkLayerAddress, destination: IPAddress?, isPermanent: Bool = true,
        isSelf: Bool = true
    ) {
        self.device = device
        self.mac = mac
        self.destination = destination
        self.isPermanent = isPermanent
        self.isSelf = isSelf
    }
}
