import Glibc

/// Builds and parses RTM_*NEIGH messages (ARP/NDP entries and the bridge FDB) in Swift: libnl's
/// neighbour object knows no NDA_VNI, NDA_PORT or NDA_IFINDEX. No socket here: golden-testable.
enum NeighbourMessages {
    static let newType: UInt16 = 28  // RTM_NEWNEIGH
    static let deleteType: UInt16 = 29  // RTM_DELNEIGH
    static let getType: UInt16 = 30  // RTM_GETNEIGH

    static let create: UInt16 = 0x400  // NLM_F_CREATE
    static let replace: UInt16 = 0x100  // NLM_F_REPLACE
    static let append: UInt16 = 0x800  // NLM_F_APPEND

    private enum Attribute {
        static let destination: UInt16 = 1  // NDA_DST
        static let lladdr: UInt16 = 2  // NDA_LLADDR
        static let port: UInt16 = 6  // NDA_PORT (be16)
        static let vni: UInt16 = 7  // NDA_VNI
        static let ifindex: UInt16 = 8  // NDA_IFINDEX
    }

    /// struct ndmsg: family, 3 pad bytes, ifindex, state, flags, type.
    private static func header(family: Int32, index: Int32, state: UInt16, flags: UInt8) -> [UInt8] {
        var fixed = [UInt8](repeating: 0, count: 12)
        fixed[0] = UInt8(truncatingIfNeeded: family)
        Pipeline.store32(UInt32(bitPattern: index), in: &fixed, at: 4)
        Pipeline.store(state, in: &fixed, at: 8)
        fixed[10] = flags
        return fixed
    }

    static func neighbour(_ neighbour: Neighbour, index: Int32, add: Bool, flags: UInt16) throws(NetlinkError)
        -> [UInt8]
    {
        var builder = MessageBuilder(
            type: add ? newType : deleteType, flags: flags,
            fixed: header(
                family: neighbour.address.family, index: index, state: neighbour.state.rawValue,
                flags: neighbour.flags.rawValue))
        try builder.put(Attribute.destination, neighbour.address.bytes)
        if let mac = neighbour.mac { try builder.put(Attribute.lladdr, mac.bytes) }
        return builder.message
    }

    static func fdb(_ entry: FDBEntry, index: Int32, add: Bool, flags: UInt16) throws(NetlinkError) -> [UInt8]
    {
        var builder = MessageBuilder(
            type: add ? newType : deleteType, flags: flags,
            fixed: header(
                family: AF_BRIDGE, index: index, state: entry.state.rawValue, flags: entry.flags.rawValue))
        if let destination = entry.destination { try builder.put(Attribute.destination, destination.bytes) }
        try builder.put(Attribute.lladdr, entry.mac.bytes)
        if let port = entry.port { try builder.putBig16(Attribute.port, port) }
        if let vni = entry.vni { try builder.put32(Attribute.vni, vni) }
        if let remote = entry.remoteDeviceIndex {
            try builder.put32(Attribute.ifindex, UInt32(bitPattern: remote))
        }
        return builder.message
    }

    /// A dump request for one family (AF_INET, AF_INET6, AF_BRIDGE).
    static func dumpRequest(family: Int32) -> [UInt8] {
        MessageBuilder(type: getType, flags: 0, fixed: header(family: family, index: 0, state: 0, flags: 0))
            .message
    }

    /// One entry as the kernel sends it (dump or event), before the device name is known.
    struct Entry {
        let family: Int32
        let index: Int32
        let state: NeighbourState
        let flags: NeighbourFlags
        let destination: IPAddress?
        let mac: LinkLayerAddress?
        let vni: UInt32?
        let port: UInt16?
        let remoteDeviceIndex: Int32?

        func neighbour(device: String) -> Neighbour? {
            guard let destination else { return nil }
            return Neighbour(device: device, address: destination, mac: mac, state: state, flags: flags)
        }

        func fdb(device: String) -> FDBEntry? {
            guard let mac else { return nil }
            return FDBEntry(
                device: device, mac: mac, destination: destination, vni: vni, port: port,
                remoteDeviceIndex: remoteDeviceIndex, state: state, flags: flags)
        }
    }

    /// Parses an ndmsg payload (after nlmsghdr).
    static func parse(_ payload: [UInt8]) -> Entry? {
        guard payload.count >= 12 else { return nil }
        let attributes = Attributes.parse(payload, from: 12)
        return Entry(
            family: Int32(payload[0]),
            index: Int32(bitPattern: Attributes.u32(payload[4..<8]) ?? 0),
            state: NeighbourState(rawValue: Attributes.u16(payload[8..<10]) ?? 0),
            flags: NeighbourFlags(rawValue: payload[10]).intersection(.settable),
            destination: attributes[Attribute.destination].flatMap { IPAddress(bytes: Array($0)) },
            mac: attributes[Attribute.lladdr].flatMap { LinkLayerAddress(bytes: Array($0)) },
            vni: Attributes.u32(attributes[Attribute.vni]),
            port: Attributes.u16(attributes[Attribute.port]).map { UInt16(bigEndian: $0) },
            remoteDeviceIndex: Attributes.u32(attributes[Attribute.ifindex]).map { Int32(bitPattern: $0) })
    }
}
