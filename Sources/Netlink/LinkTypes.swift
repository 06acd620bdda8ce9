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
    /// IFLA_LINK: the link this one is stacked on or paired with (a veth's peer, a vxlan's
    /// underlay device); an index in the namespace `linkNamespaceID` names, or in this one.
    public var parentIndex: Int32?
    /// IFLA_LINK_NETNSID: the peer namespace's id as this namespace knows it, when the parent
    /// lives in another namespace.
    public var linkNamespaceID: Int32?

    public init(
        index: Int32, name: String, kind: String?, mtu: UInt32, mac: LinkLayerAddress?, isUp: Bool,
        masterIndex: Int32?, master: String?, vxlan: VXLANOptions?, parentIndex: Int32? = nil,
        linkNamespaceID: Int32? = nil
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
        self.parentIndex = parentIndex
        self.linkNamespaceID = linkNamespaceID
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
    /// Up at once, in the namespace the link ends up in.
    public var up: Bool
    /// Create the link here and place it in another namespace in the same request. A vxlan made
    /// this way keeps its UDP socket in the namespace of the creating socket.
    public var namespace: NetworkNamespace?
    /// For a veth: the peer's MAC, and whether the peer is brought up (in its own namespace,
    /// right after the pair is made: the kernel refuses it in the creating request).
    public var peerMAC: LinkLayerAddress?
    public var peerUp: Bool

    public init(
        name: String, kind: LinkKind, mtu: UInt32? = nil, mac: LinkLayerAddress? = nil,
        master: String? = nil, up: Bool = false, namespace: NetworkNamespace? = nil,
        peerMAC: LinkLayerAddress? = nil, peerUp: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.up = up
        self.namespace = namespace
        self.peerMAC = peerMAC
        self.peerUp = peerUp
    }
}

/// Changes to an existing link; nil fields are left alone. All of them go in one request, and
/// the kernel moves the link first: `up` and `name` then apply in the target namespace.
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
    /// A new name (IFLA_IFNAME); the kernel refuses it while the link is up (EBUSY).
    public var name: String?

    public init(
        up: Bool? = nil, mtu: UInt32? = nil, mac: LinkLayerAddress? = nil, master: Master? = nil,
        namespace: NetworkNamespace? = nil, name: String? = nil
    ) {
        self.up = up
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.namespace = namespace
        self.name = name
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
