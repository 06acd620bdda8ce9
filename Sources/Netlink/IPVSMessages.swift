import CMnl
import Glibc

/// Builds and parses IPVS generic netlink messages (MessageBuilder; the constants come from
/// linux/ip_vs.h via CMnl). Nothing here touches a socket, so the golden tests use it directly.
enum IPVSMessages {
    static let genlVersion: UInt8 = 1  // IPVS_GENL_VERSION
    static let controlFamily: UInt16 = 0x10  // GENL_ID_CTRL

    enum Command: UInt8 {
        case newService = 1
        case setService, deleteService, getService
        case newDestination, setDestination, deleteDestination, getDestination
        case setConfig = 12
        case getConfig = 13
        case getInfo = 15
        case flush = 17
    }

    /// A generic netlink message: header, genlmsghdr, then what `attributes` puts (checked puts
    /// into a growing buffer: a value that does not fit is an error, never a cut message).
    static func message(
        family: UInt16, command: UInt8, version: UInt8 = genlVersion, flags: UInt16 = 0,
        _ attributes: (inout MessageBuilder) throws(NetlinkError) -> Void = { _ in }
    ) throws(NetlinkError) -> [UInt8] {
        var builder = MessageBuilder(
            type: family, flags: Pipeline.requestFlag | flags, fixed: [command, version, 0, 0])
        try attributes(&builder)
        return builder.message
    }

    static func resolveFamily(_ name: String) throws(NetlinkError) -> [UInt8] {
        try message(family: controlFamily, command: UInt8(CTRL_CMD_GETFAMILY), version: 1) {
            builder throws(NetlinkError) in
            try builder.putString(UInt16(CTRL_ATTR_FAMILY_NAME), name, maxLength: 16, what: "family name")
        }
    }

    /// The 16-byte union nf_inet_addr, as ipvsadm sends it.
    private static func putAddress(_ builder: inout MessageBuilder, _ type: UInt16, _ address: IPAddress)
        throws(NetlinkError)
    {
        try builder.put(type, address.bytes + [UInt8](repeating: 0, count: 16 - address.bytes.count))
    }

    /// IP_VS_SCHEDNAME_MAXLEN, the NUL included.
    static let schedulerNameMaxLength = 16

    /// The service attribute: identity always, the rest only when `full` (NEW/SET need it).
    static func putService(_ builder: inout MessageBuilder, key: ServiceKey, full: VirtualService?)
        throws(NetlinkError)
    {
        builder.beginNest(UInt16(IPVS_CMD_ATTR_SERVICE))
        try builder.put16(UInt16(IPVS_SVC_ATTR_AF), key.family.value)
        switch key {
        case .address(let proto, let address, let port):
            try builder.put16(UInt16(IPVS_SVC_ATTR_PROTOCOL), proto.rawValue)
            try putAddress(&builder, UInt16(IPVS_SVC_ATTR_ADDR), address)
            try builder.putBig16(UInt16(IPVS_SVC_ATTR_PORT), port)
        case .firewallMark(let mark, _):
            try builder.put32(UInt16(IPVS_SVC_ATTR_FWMARK), mark)
        }
        if let service = full {
            try builder.putString(
                UInt16(IPVS_SVC_ATTR_SCHED_NAME), service.scheduler, maxLength: schedulerNameMaxLength,
                what: "scheduler name")
            // struct ip_vs_flags { flags, mask }: every bit is ours to set.
            try builder.put(
                UInt16(IPVS_SVC_ATTR_FLAGS),
                withUnsafeBytes(of: service.flags.littleEndian) { Array($0) } + [0xff, 0xff, 0xff, 0xff])
            try builder.put32(UInt16(IPVS_SVC_ATTR_TIMEOUT), service.timeout)
            // The kernel reads the netmask as __be32: an IPv4 mask in network order, an IPv6
            // prefix length as a plain number (ipvsadm sends it the same way).
            if key.family == .ipv4 {
                try builder.putBig32(UInt16(IPVS_SVC_ATTR_NETMASK), service.netmask)
            } else {
                try builder.put32(UInt16(IPVS_SVC_ATTR_NETMASK), service.netmask)
            }
        }
        try builder.endNest()
    }

    static func putDestination(
        _ builder: inout MessageBuilder, address: IPAddress, port: UInt16, full: Destination?
    ) throws(NetlinkError) {
        builder.beginNest(UInt16(IPVS_CMD_ATTR_DEST))
        try putAddress(&builder, UInt16(IPVS_DEST_ATTR_ADDR), address)
        try builder.putBig16(UInt16(IPVS_DEST_ATTR_PORT), port)
        try builder.put16(UInt16(IPVS_DEST_ATTR_ADDR_FAMILY), address.isIPv4 ? 2 : 10)
        if let destination = full {
            try builder.put32(UInt16(IPVS_DEST_ATTR_FWD_METHOD), destination.forwarding.rawValue)
            try builder.put32(UInt16(IPVS_DEST_ATTR_WEIGHT), destination.weight)
            try builder.put32(UInt16(IPVS_DEST_ATTR_U_THRESH), destination.upperThreshold)
            try builder.put32(UInt16(IPVS_DEST_ATTR_L_THRESH), destination.lowerThreshold)
        }
        try builder.endNest()
    }

    /// The message for one batch request.
    static func request(_ request: IPVSRequest, family: UInt16) throws(NetlinkError) -> [UInt8] {
        switch request {
        case .addService(let service):
            try message(family: family, command: Command.newService.rawValue) { b throws(NetlinkError) in
                try putService(&b, key: service.key, full: service)
            }
        case .updateService(let service):
            try message(family: family, command: Command.setService.rawValue) { b throws(NetlinkError) in
                try putService(&b, key: service.key, full: service)
            }
        case .deleteService(let key):
            try message(family: family, command: Command.deleteService.rawValue) { b throws(NetlinkError) in
                try putService(&b, key: key, full: nil)
            }
        case .addDestination(let key, let destination):
            try message(family: family, command: Command.newDestination.rawValue) { b throws(NetlinkError) in
                try putService(&b, key: key, full: nil)
                try putDestination(
                    &b, address: destination.address, port: destination.port, full: destination)
            }
        case .updateDestination(let key, let destination):
            try message(family: family, command: Command.setDestination.rawValue) { b throws(NetlinkError) in
                try putService(&b, key: key, full: nil)
                try putDestination(
                    &b, address: destination.address, port: destination.port, full: destination)
            }
        case .deleteDestination(let key, let address, let port):
            try message(family: family, command: Command.deleteDestination.rawValue) {
                b throws(NetlinkError) in
                try putService(&b, key: key, full: nil)
                try putDestination(&b, address: address, port: port, full: nil)
            }
        case .flush:
            try message(family: family, command: Command.flush.rawValue)
        }
    }

    static func setConfig(_ timeouts: IPVSTimeouts, family: UInt16) throws(NetlinkError) -> [UInt8] {
        try message(family: family, command: Command.setConfig.rawValue) { b throws(NetlinkError) in
            try b.put32(UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP), timeouts.tcp)
            try b.put32(UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN), timeouts.tcpFin)
            try b.put32(UInt16(IPVS_CMD_ATTR_TIMEOUT_UDP), timeouts.udp)
        }
    }

    // MARK: Parsing (payloads start with the 4-byte genlmsghdr)

    static func parseFamilyID(_ payload: [UInt8]) -> UInt16? {
        Attributes.u16(Attributes.parse(payload, from: 4)[UInt16(CTRL_ATTR_FAMILY_ID)])
    }

    private static func address(_ value: ArraySlice<UInt8>?, family: UInt16) -> IPAddress? {
        guard let value, value.count >= 4 else { return nil }
        let start = value.startIndex
        if family == 2 { return .v4(value[start], value[start + 1], value[start + 2], value[start + 3]) }
        return IPAddress(bytes: Array(value.prefix(16)))
    }

    private static func bigEndianPort(_ value: ArraySlice<UInt8>?) -> UInt16? {
        Attributes.u16(value).map { UInt16(bigEndian: $0) }
    }

    static func parseService(_ payload: [UInt8]) -> VirtualService? {
        guard let nested = Attributes.parse(payload, from: 4)[UInt16(IPVS_CMD_ATTR_SERVICE)] else {
            return nil
        }
        let attributes = Attributes.parse(nested)
        guard let family = Attributes.u16(attributes[UInt16(IPVS_SVC_ATTR_AF)]) else { return nil }
        let key: ServiceKey
        if let mark = Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_FWMARK)]), mark != 0 {
            key = .firewallMark(mark, family: family == 2 ? .ipv4 : .ipv6)
        } else {
            guard let rawProtocol = Attributes.u16(attributes[UInt16(IPVS_SVC_ATTR_PROTOCOL)]),
                let proto = IPVSProtocol(rawValue: rawProtocol),
                let ip = address(attributes[UInt16(IPVS_SVC_ATTR_ADDR)], family: family),
                let port = bigEndianPort(attributes[UInt16(IPVS_SVC_ATTR_PORT)])
            else { return nil }
            key = .address(proto, ip, port: port)
        }
        // The kernel's own bits (IP_VS_SVC_F_HASHED) are not part of the service as written.
        let flags =
            (Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_FLAGS)]) ?? 0) & ~VirtualService.kernelFlags
        let rawMask = Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_NETMASK)])
        return VirtualService(
            key: key,
            scheduler: Attributes.string(attributes[UInt16(IPVS_SVC_ATTR_SCHED_NAME)]) ?? "",
            flags: flags,
            timeout: Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_TIMEOUT)]) ?? 0,
            netmask: family == 2 ? rawMask.map { UInt32(bigEndian: $0) } : rawMask,
            stats: stats(attributes[UInt16(IPVS_SVC_ATTR_STATS64)], attributes[UInt16(IPVS_SVC_ATTR_STATS)]))
    }

    static func parseDestination(_ payload: [UInt8], serviceFamily: AddressFamily) -> Destination? {
        guard let nested = Attributes.parse(payload, from: 4)[UInt16(IPVS_CMD_ATTR_DEST)] else { return nil }
        let attributes = Attributes.parse(nested)
        let family =
            Attributes.u16(attributes[UInt16(IPVS_DEST_ATTR_ADDR_FAMILY)]) ?? serviceFamily.value
        guard let ip = address(attributes[UInt16(IPVS_DEST_ATTR_ADDR)], family: family),
            let port = bigEndianPort(attributes[UInt16(IPVS_DEST_ATTR_PORT)])
        else { return nil }
        let method = Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_FWD_METHOD)]) ?? 0
        var destination = Destination(
            address: ip, port: port,
            forwarding: ForwardingMethod(rawValue: method & UInt32(IP_VS_CONN_F_FWD_MASK)) ?? .masquerade,
            weight: Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_WEIGHT)]) ?? 0,
            upperThreshold: Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_U_THRESH)]) ?? 0,
            lowerThreshold: Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_L_THRESH)]) ?? 0)
        destination.activeConnections = Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_ACTIVE_CONNS)]) ?? 0
        destination.inactiveConnections = Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_INACT_CONNS)]) ?? 0
        destination.persistentConnections =
            Attributes.u32(attributes[UInt16(IPVS_DEST_ATTR_PERSIST_CONNS)]) ?? 0
        destination.stats = stats(
            attributes[UInt16(IPVS_DEST_ATTR_STATS64)], attributes[UInt16(IPVS_DEST_ATTR_STATS)])
        return destination
    }

    /// STATS64 (all u64) when the kernel sends it, else STATS (u32 counters, u64 bytes).
    private static func stats(_ wide: ArraySlice<UInt8>?, _ narrow: ArraySlice<UInt8>?) -> IPVSStats? {
        guard let nested = wide ?? narrow else { return nil }
        let attributes = Attributes.parse(nested)
        func value(_ type: Int) -> UInt64 {
            let raw = attributes[UInt16(type)]
            if let raw, raw.count >= 8 { return Attributes.u64(raw) ?? 0 }
            return UInt64(Attributes.u32(raw) ?? 0)
        }
        var stats = IPVSStats()
        stats.connections = value(Int(IPVS_STATS_ATTR_CONNS))
        stats.packetsIn = value(Int(IPVS_STATS_ATTR_INPKTS))
        stats.packetsOut = value(Int(IPVS_STATS_ATTR_OUTPKTS))
        stats.bytesIn = value(Int(IPVS_STATS_ATTR_INBYTES))
        stats.bytesOut = value(Int(IPVS_STATS_ATTR_OUTBYTES))
        stats.connectionsPerSecond = value(Int(IPVS_STATS_ATTR_CPS))
        stats.packetsInPerSecond = value(Int(IPVS_STATS_ATTR_INPPS))
        stats.packetsOutPerSecond = value(Int(IPVS_STATS_ATTR_OUTPPS))
        stats.bytesInPerSecond = value(Int(IPVS_STATS_ATTR_INBPS))
        stats.bytesOutPerSecond = value(Int(IPVS_STATS_ATTR_OUTBPS))
        return stats
    }

    static func parseInfo(_ payload: [UInt8]) -> IPVSInfo? {
        let attributes = Attributes.parse(payload, from: 4)
        guard let version = Attributes.u32(attributes[UInt16(IPVS_INFO_ATTR_VERSION)]) else { return nil }
        return IPVSInfo(
            version: version,
            connectionTableSize: Attributes.u32(attributes[UInt16(IPVS_INFO_ATTR_CONN_TAB_SIZE)]) ?? 0)
    }

    static func parseTimeouts(_ payload: [UInt8]) -> IPVSTimeouts {
        let attributes = Attributes.parse(payload, from: 4)
        return IPVSTimeouts(
            tcp: Attributes.u32(attributes[UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP)]) ?? 0,
            tcpFin: Attributes.u32(attributes[UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN)]) ?? 0,
            udp: Attributes.u32(attributes[UInt16(IPVS_CMD_ATTR_TIMEOUT_UDP)]) ?? 0)
    }
}
