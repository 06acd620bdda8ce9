import ShoalModel

/// The vxlan device of a network namespace, as read back.
public struct VXLANDevice: Equatable, Codable, Sendable {
    public var vni: UInt32
    public var port: UInt16
    public var local: IPv4Address?
    public var mtu: Int
    public var learning: Bool
    /// Up and a port of br0.
    public var attached: Bool
    public var index: Int32

    public init(
        vni: UInt32, port: UInt16, local: IPv4Address?, mtu: Int, learning: Bool, attached: Bool, index: Int32
    ) {
        self.vni = vni
        self.port = port
        self.local = local
        self.mtu = mtu
        self.learning = learning
        self.attached = attached
        self.index = index
    }
}

/// What a network namespace of Shoal's holds. FDB and neighbour tables are keyed the way the
/// kernel keys them on vx0: MAC -> VTEP and IP -> MAC (text forms, so the admin API reads well).
public struct ObservedNetwork: Equatable, Codable, Sendable {
    public var id: String
    public var bridgeIndex: Int32?
    public var vxlan: VXLANDevice?
    public var fdb: [String: String] = [:]
    public var neighbours: [String: String] = [:]
    /// Host ends of task veths that are up ports of br0, by name, with their ifindex.
    public var ports: [String: Int32] = [:]

    public init(id: String) { self.id = id }
}

/// A task's network attachment, read back from the task namespace (`eth<index>`).
public struct ObservedAttachment: Equatable, Codable, Sendable {
    public var address: IPv4Address?
    public var prefixLength: Int?
    public var mac: MACAddress?
    public var mtu: Int
    public var up: Bool
    public var index: Int32

    public init(address: IPv4Address?, prefixLength: Int?, mac: MACAddress?, mtu: Int, up: Bool, index: Int32)
    {
        self.address = address
        self.prefixLength = prefixLength
        self.mac = mac
        self.mtu = mtu
        self.up = up
        self.index = index
    }
}

public struct ObservedTask: Equatable, Codable, Sendable {
    public var id: String
    /// By the `eth<index>` number.
    public var attachments: [Int: ObservedAttachment] = [:]
    /// `gw0`, the veth on the node's gateway bridge.
    public var egress: ObservedAttachment?

    public init(id: String) { self.id = id }
}

/// Everything of Shoal's on this node's kernel, from a dump (or mirrored from applied operations).
public struct ObservedNode: Equatable, Codable, Sendable {
    public var networks: [String: ObservedNetwork] = [:]
    public var tasks: [String: ObservedTask] = [:]
    /// The gateway bridge has its address, forwarding is on and Shoal's nft table masquerades.
    public var egressReady = false

    public init() {}
}

/// Names of kernel objects, in one place: the planner, the kernel and the tests agree on them.
public enum KernelNames {
    public static let bridge = "br0"
    public static let vxlan = "vx0"

    public static let egressInterface = "gw0"
    public static let egressBridge = "shoal_gw"
    public static let nftTable = "shoal_egress"

    public static func taskInterface(_ index: Int) -> String { "eth\(index)" }

    /// The host end of a task's egress veth, on the node's gateway bridge.
    public static func egressPort(task: String) -> String { "eg" + hostPort(task: task).dropFirst(2) }

    /// The host end of a task's veth in a network namespace: IFNAMSIZ allows 15 characters, so a
    /// stable hash of the task id (FNV-1a, 48 bits) stands in for it.
    public static func hostPort(task: String) -> String {
        let hex = String(fnv1a(task) & 0xffff_ffff_ffff, radix: 16)
        return "vt" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// FNV-1a, 64 bits: a stable hash for names and digests.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// Namespace file names under the agent's run directory.
    public static func networkNamespace(_ id: String) -> String { "net-" + id }
    public static func taskNamespace(_ id: String) -> String { "task-" + id }

    /// Ids go into file and device names: only letters, digits, '-' and '_' are accepted.
    public static func isSafeID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a)
                    || (byte >= 0x61 && byte <= 0x7a)
                    || byte == 0x2d || byte == 0x5f
            }
    }
}
