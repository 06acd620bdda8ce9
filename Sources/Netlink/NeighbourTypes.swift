/// NUD_* states of a neighbour or FDB entry (ndm_state).
public struct NeighbourState: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let incomplete = NeighbourState(rawValue: 0x01)
    public static let reachable = NeighbourState(rawValue: 0x02)
    public static let stale = NeighbourState(rawValue: 0x04)
    public static let delay = NeighbourState(rawValue: 0x08)
    public static let probe = NeighbourState(rawValue: 0x10)
    public static let failed = NeighbourState(rawValue: 0x20)
    public static let noARP = NeighbourState(rawValue: 0x40)
    public static let permanent = NeighbourState(rawValue: 0x80)
}

/// NTF_* flags of a neighbour or FDB entry (ndm_flags). Kernel-owned bits (NTF_USE,
/// NTF_OFFLOADED) are dropped when reading, so read-back entries equal desired ones.
public struct NeighbourFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// NTF_SELF: the device's own table (a vxlan's FDB), not its master's.
    public static let `self` = NeighbourFlags(rawValue: 0x02)
    /// NTF_MASTER: the master bridge's table.
    public static let master = NeighbourFlags(rawValue: 0x04)
    public static let proxy = NeighbourFlags(rawValue: 0x08)
    public static let externLearned = NeighbourFlags(rawValue: 0x10)
    public static let sticky = NeighbourFlags(rawValue: 0x40)
    public static let router = NeighbourFlags(rawValue: 0x80)

    /// The bits a caller sets; the others are the kernel's.
    static let settable: NeighbourFlags = [.self, .master, .proxy, .externLearned, .sticky, .router]
}

/// An ARP / NDP entry: IP -> MAC on a device.
public struct Neighbour: Sendable, Hashable {
    public var device: String
    public var address: IPAddress
    public var mac: LinkLayerAddress?
    /// Entries Shoal writes are permanent.
    public var state: NeighbourState
    public var flags: NeighbourFlags

    public init(
        device: String, address: IPAddress, mac: LinkLayerAddress?, state: NeighbourState = .permanent,
        flags: NeighbourFlags = []
    ) {
        self.device = device
        self.address = address
        self.mac = mac
        self.state = state
        self.flags = flags
    }

    public var isPermanent: Bool { state.contains(.permanent) }
}

/// A bridge forwarding entry (AF_BRIDGE): on a vxlan device, MAC -> remote VTEP.
///
/// The kernel reads back `vni` and `port` only when they differ from the vxlan device's own;
/// leave them nil to mean "the device's", and read-back equals the desired entry.
public struct FDBEntry: Sendable, Hashable {
    public var device: String
    public var mac: LinkLayerAddress
    /// The remote VTEP (NDA_DST); nil for entries without one (e.g. on a bridge).
    public var destination: IPAddress?
    /// NDA_VNI: the remote VNI, nil for the device's.
    public var vni: UInt32?
    /// NDA_PORT: the remote UDP port, nil for the device's.
    public var port: UInt16?
    /// NDA_IFINDEX: the underlay device to reach the VTEP through, nil for any.
    public var remoteDeviceIndex: Int32?
    public var state: NeighbourState
    public var flags: NeighbourFlags

    public init(
        device: String, mac: LinkLayerAddress, destination: IPAddress?, vni: UInt32? = nil,
        port: UInt16? = nil, remoteDeviceIndex: Int32? = nil, state: NeighbourState = .permanent,
        flags: NeighbourFlags = .self
    ) {
        self.device = device
        self.mac = mac
        self.destination = destination
        self.vni = vni
        self.port = port
        self.remoteDeviceIndex = remoteDeviceIndex
        self.state = state
        self.flags = flags
    }

    public var isPermanent: Bool { state.contains(.permanent) }
    /// NTF_SELF: the entry lives in the device's own table (vxlan), not its master's.
    public var isSelf: Bool { flags.contains(.self) }
}
