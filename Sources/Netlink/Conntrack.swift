import Glibc

/// One direction of a tracked connection.
public struct ConntrackTuple: Sendable, Hashable {
    public var source: IPAddress
    public var destination: IPAddress
    /// 0 for protocols without ports.
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    public init(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16 = 0, destinationPort: UInt16 = 0
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }
}

/// A connection tracking entry: what the client sent (original) and what answers it (reply;
/// after DNAT or IPVS, its source is the backend).
public struct ConntrackEntry: Sendable, Hashable {
    /// IPPROTO_* (6 TCP, 17 UDP, 132 SCTP, ...).
    public var protocolNumber: UInt8
    public var original: ConntrackTuple
    public var reply: ConntrackTuple
    public var zone: UInt16
}

/// Which entries to delete. Every criterion given must match; at least one address is required,
/// so an empty filter cannot flush the table.
public struct ConntrackFilter: Sendable, Hashable {
    public var protocolNumber: UInt8?
    /// The address the client sent to (a service VIP).
    public var originalDestination: IPAddress?
    public var originalDestinationPort: UInt16?
    /// The address that answers (a backend task, after DNAT or IPVS).
    public var replySource: IPAddress?
    public var replySourcePort: UInt16?

    public init(
        protocolNumber: UInt8? = nil, originalDestination: IPAddress? = nil,
        originalDestinationPort: UInt16? = nil,
        replySource: IPAddress? = nil, replySourcePort: UInt16? = nil
    ) {
        self.protocolNumber = protocolNumber
        self.originalDestination = originalDestination
        self.originalDestinationPort = originalDestinationPort
        self.replySource = replySource
        self.replySourcePort = replySourcePort
    }

    public func matches(_ entry: ConntrackEntry) -> Bool {
        (protocolNumber.map { $0 == entry.protocolNumber } ?? true)
            && (originalDestination.map { $0 == entry.original.destination } ?? true)
            && (originalDestinationPort.map { $0 == entry.original.destinationPort } ?? true)
            && (replySource.map { $0 == entry.reply.source } ?? true)
            && (replySourcePort.map { $0 == entry.reply.sourcePort } ?? true)
    }
}

/// Connection tracking over ctnetlink (NETLINK_NETFILTER), e.g. to drop the entries of a removed
/// UDP backend so clients stop sending to a dead task (what kube-proxy does for DNS).
public enum Conntrack {
    /// The entries of one family in `namespace`.
    public static func entries(in namespace: NetworkNamespace = .current, family: AddressFamily = .ipv4)
        async throws(NetlinkError) -> [ConntrackEntry]
    {
        try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            let fd = try Socket.openNetlink(ConntrackMessages.netlinkNetfilter, in: namespace)
            defer { close(fd) }
            return try ConntrackMessages.dump(fd: fd, family: family)
        }
    }

    /// Deletes the entries `filter` matches; returns how many were deleted. Entries that vanish
    /// meanwhile (ENOENT) are not errors.
    @discardableResult
    public static func delete(matching filter: ConntrackFilter, in namespace: NetworkNamespace = .current)
        async throws(NetlinkError) -> Int
    {
        let addresses = [filter.originalDestination, filter.replySource].compactMap { $0 }
        guard let first = addresses.first else {
            throw .errno(EINVAL, "delete conntrack entries", detail: "the filter names no address")
        }
        guard addresses.allSatisfy({ $0.isIPv4 == first.isIPv4 }) else {
            throw .errno(EINVAL, "delete conntrack entries", detail: "the filter mixes IPv4 and IPv6")
        }
        return try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            let fd = try Socket.openNetlink(ConntrackMessages.netlinkNetfilter, in: namespace)
            defer { close(fd) }
            let doomed = try ConntrackMessages.dump(fd: fd, family: first.isIPv4 ? .ipv4 : .ipv6)
                .filter(filter.matches)
            let messages = try doomed.map { entry throws(NetlinkError) in try ConntrackMessages.delete(entry)
            }
            let results = Pipeline(fd: fd).run(messages, firstSequence: 0x5000_0000) { index in
                "delete conntrack entry \(doomed[index].original.source) -> \(doomed[index].original.destination)"
            }
            var deleted = 0
            for result in results {
                if let result, !(result.code == .errno(ENOENT)) { throw result }
                if result == nil { deleted += 1 }
            }
            return deleted
        }
    }
}

/// ctnetlink messages: nfgenmsg, then CTA_* attributes.
enum ConntrackMessages {
    static let netlinkNetfilter: Int32 = 12  // NETLINK_NETFILTER
    private static let getType: UInt16 = 1 << 8 | 1  // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
    private static let newType: UInt16 = 1 << 8 | 0  // IPCTNL_MSG_CT_NEW (dump replies)
    private static let deleteType: UInt16 = 1 << 8 | 2  // IPCTNL_MSG_CT_DELETE

    private enum Attribute {
        static let tupleOriginal: UInt16 = 1  // CTA_TUPLE_ORIG
        static let tupleReply: UInt16 = 2  // CTA_TUPLE_REPLY
        static let zone: UInt16 = 18  // CTA_ZONE
        static let tupleIP: UInt16 = 1  // CTA_TUPLE_IP
        static let tupleProto: UInt16 = 2  // CTA_TUPLE_PROTO
        static let v4Source: UInt16 = 1  // CTA_IP_V4_SRC
        static let v4Destination: UInt16 = 2
        static let v6Source: UInt16 = 3
        static let v6Destination: UInt16 = 4
        static let protoNumber: UInt16 = 1  // CTA_PROTO_NUM
        static let sourcePort: UInt16 = 2  // CTA_PROTO_SRC_PORT
        static let destinationPort: UInt16 = 3
    }

    /// struct nfgenmsg: family, version NFNETLINK_V0, res_id 0.
    private static func header(_ family: AddressFamily) -> [UInt8] { [UInt8(family.value), 0, 0, 0] }

    static func dump(fd: Int32, family: AddressFamily) throws(NetlinkError) -> [ConntrackEntry] {
        let request = MessageBuilder(type: getType, flags: 0, fixed: header(family)).message
        return try Dump(fd: fd).run(
            request, sequence: 0x4000_0000, operation: "dump conntrack", buffer: &ReceiveSpace.current.bytes
        ).compactMap { $0.type == newType ? parse($0.payload) : nil }
    }

    static func parse(_ payload: [UInt8]) -> ConntrackEntry? {
        let attributes = Attributes.parse(payload, from: 4)
        guard let original = attributes[Attribute.tupleOriginal].flatMap(tuple),
            let reply = attributes[Attribute.tupleReply].flatMap(tuple)
        else { return nil }
        return ConntrackEntry(
            protocolNumber: original.proto, original: original.tuple, reply: reply.tuple,
            zone: Attributes.u16(attributes[Attribute.zone]).map { UInt16(bigEndian: $0) } ?? 0)
    }

    private static func tuple(_ bytes: ArraySlice<UInt8>) -> (tuple: ConntrackTuple, proto: UInt8)? {
        let attributes = Attributes.parse(bytes)
        guard let ip = attributes[Attribute.tupleIP].map({ Attributes.parse($0) }),
            let proto = attributes[Attribute.tupleProto].map({ Attributes.parse($0) }),
            let source = (ip[Attribute.v4Source] ?? ip[Attribute.v6Source]).flatMap({
                IPAddress(bytes: Array($0))
            }),
            let destination = (ip[Attribute.v4Destination] ?? ip[Attribute.v6Destination]).flatMap({
                IPAddress(bytes: Array($0))
            })
        else { return nil }
        let port = { (type: UInt16) in Attributes.u16(proto[type]).map { UInt16(bigEndian: $0) } ?? 0 }
        return (
            ConntrackTuple(
                source: source, destination: destination, sourcePort: port(Attribute.sourcePort),
                destinationPort: port(Attribute.destinationPort)),
            proto[Attribute.protoNumber]?.first ?? 0
        )
    }

    /// IPCTNL_MSG_CT_DELETE for exactly this entry (its original tuple and zone).
    static func delete(_ entry: ConntrackEntry) throws(NetlinkError) -> [UInt8] {
        let family: AddressFamily = entry.original.source.isIPv4 ? .ipv4 : .ipv6
        var builder = MessageBuilder(type: deleteType, flags: 0, fixed: header(family))
        builder.beginNest(Attribute.tupleOriginal)
        builder.beginNest(Attribute.tupleIP)
        let v4 = family == .ipv4
        try builder.put(v4 ? Attribute.v4Source : Attribute.v6Source, entry.original.source.bytes)
        try builder.put(
            v4 ? Attribute.v4Destination : Attribute.v6Destination, entry.original.destination.bytes)
        try builder.endNest()
        builder.beginNest(Attribute.tupleProto)
        try builder.put8(Attribute.protoNumber, entry.protocolNumber)
        if entry.original.sourcePort != 0 || entry.original.destinationPort != 0 {
            try builder.putBig16(Attribute.sourcePort, entry.original.sourcePort)
            try builder.putBig16(Attribute.destinationPort, entry.original.destinationPort)
        }
        try builder.endNest()
        try builder.endNest()
        if entry.zone != 0 { try builder.putBig16(Attribute.zone, entry.zone) }
        return builder.message
    }
}
