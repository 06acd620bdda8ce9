import CMnl
import Glibc

/// Builds and parses IPVS generic netlink messages. Building uses libmnl on a scratch buffer;
/// nothing here touches a socket, so the golden tests use it directly.
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

    /// A generic netlink message: header, genlmsghdr, then what `attributes` puts.
    static func message(
        family: UInt16, command: UInt8, version: UInt8 = genlVersion, flags: UInt16 = 0,
        _ attributes: (UnsafeMutablePointer<nlmsghdr>) -> Void = { _ in }
    ) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let length = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress, let header = mnl_nlmsg_put_header(base) else { return 0 }
            header.pointee.nlmsg_type = family
            header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST) | flags
            let genl = mnl_nlmsg_put_extra_header(header, MemoryLayout<genlmsghdr>.size)
            genl?.storeBytes(of: command, toByteOffset: 0, as: UInt8.self)
            genl?.storeBytes(of: version, toByteOffset: 1, as: UInt8.self)
            attributes(header)
            return Int(header.pointee.nlmsg_len)
        }
        return Array(buffer.prefix(length))
    }

    static func resolveFamily(_ name: String) -> [UInt8] {
        message(family: controlFamily, command: UInt8(CTRL_CMD_GETFAMILY), version: 1) { header in
            mnl_attr_put_strz(header, UInt16(CTRL_ATTR_FAMILY_NAME), name)
        }
    }

    /// The 16-byte union nf_inet_addr, as ipvsadm sends it.
    private static func putAddress(
        _ header: UnsafeMutablePointer<nlmsghdr>, _ type: UInt16, _ address: IPAddress
    ) {
        var bytes = address.bytes
        bytes += [UInt8](repeating: 0, count: 16 - bytes.count)
        bytes.withUnsafeBytes { mnl_attr_put(header, type, 16, $0.baseAddress) }
    }

    /// The service attribute: identity always, the rest only when `full` (NEW/SET need it).
    static func putService(_ header: UnsafeMutablePointer<nlmsghdr>, key: ServiceKey, full: VirtualService?) {
        let nest = mnl_attr_nest_start(header, UInt16(IPVS_CMD_ATTR_SERVICE))
        mnl_attr_put_u16(header, UInt16(IPVS_SVC_ATTR_AF), key.family.value)
        switch key {
        case .address(let proto, let address, let port):
            mnl_attr_put_u16(header, UInt16(IPVS_SVC_ATTR_PROTOCOL), proto.rawValue)
            putAddress(header, UInt16(IPVS_SVC_ATTR_ADDR), address)
            mnl_attr_put_u16(header, UInt16(IPVS_SVC_ATTR_PORT), port.bigEndian)
        case .firewallMark(let mark, _):
            mnl_attr_put_u32(header, UInt16(IPVS_SVC_ATTR_FWMARK), mark)
        }
        if let service = full {
            mnl_attr_put_strz(header, UInt16(IPVS_SVC_ATTR_SCHED_NAME), service.scheduler)
            var flags = ip_vs_flags(flags: service.flags, mask: 0xffff_ffff)
            mnl_attr_put(header, UInt16(IPVS_SVC_ATTR_FLAGS), MemoryLayout<ip_vs_flags>.size, &flags)
            mnl_attr_put_u32(header, UInt16(IPVS_SVC_ATTR_TIMEOUT), service.timeout)
            mnl_attr_put_u32(header, UInt16(IPVS_SVC_ATTR_NETMASK), service.netmask)
        }
        mnl_attr_nest_end(header, nest)
    }

    static func putDestination(
        _ header: UnsafeMutablePointer<nlmsghdr>, address: IPAddress, port: UInt16, full: Destination?
    ) {
        let nest = mnl_attr_nest_start(header, UInt16(IPVS_CMD_ATTR_DEST))
        putAddress(header, UInt16(IPVS_DEST_ATTR_ADDR), address)
        mnl_attr_put_u16(header, UInt16(IPVS_DEST_ATTR_PORT), port.bigEndian)
        mnl_attr_put_u16(header, UInt16(IPVS_DEST_ATTR_ADDR_FAMILY), address.isIPv4 ? 2 : 10)
        if let destination = full {
            mnl_attr_put_u32(header, UInt16(IPVS_DEST_ATTR_FWD_METHOD), destination.forwarding.rawValue)
            mnl_attr_put_u32(header, UInt16(IPVS_DEST_ATTR_WEIGHT), destination.weight)
            mnl_attr_put_u32(header, UInt16(IPVS_DEST_ATTR_U_THRESH), destination.upperThreshold)
            mnl_attr_put_u32(header, UInt16(IPVS_DEST_ATTR_L_THRESH), destination.lowerThreshold)
        }
        mnl_attr_nest_end(header, nest)
    }

    /// The message for one batch request.
    static func request(_ request: IPVSRequest, family: UInt16) -> [UInt8] {
        switch request {
        case .addService(let service):
            message(family: family, command: Command.newService.rawValue) {
                putService($0, key: service.key, full: service)
            }
        case .updateService(let service):
            message(family: family, command: Command.setService.rawValue) {
                putService($0, key: service.key, full: service)
            }
        case .deleteService(let key):
            message(family: family, command: Command.deleteService.rawValue) {
                putService($0, key: key, full: nil)
            }
        case .addDestination(let key, let destination):
            message(family: family, command: Command.newDestination.rawValue) {
                putService($0, key: key, full: nil)
                putDestination($0, address: destination.address, port: destination.port, full: destination)
            }
        case .updateDestination(let key, let destination):
            message(family: family, command: Command.setDestination.rawValue) {
                putService($0, key: key, full: nil)
                putDestination($0, address: destination.address, port: destination.port, full: destination)
            }
        case .deleteDestination(let key, let address, let port):
            message(family: family, command: Command.deleteDestination.rawValue) {
                putService($0, key: key, full: nil)
                putDestination($0, address: address, port: port, full: nil)
            }
        case .flush:
            message(family: family, command: Command.flush.rawValue)
        }
    }

    static func setConfig(_ timeouts: IPVSTimeouts, family: UInt16) -> [UInt8] {
        message(family: family, command: Command.setConfig.rawValue) { header in
            mnl_attr_put_u32(header, UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP), timeouts.tcp)
            mnl_attr_put_u32(header, UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN), timeouts.tcpFin)
            mnl_attr_put_u32(header, UInt16(IPVS_CMD_ATTR_TIMEOUT_UDP), timeouts.udp)
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
        let flags = Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_FLAGS)]) ?? 0
        return VirtualService(
            key: key,
            scheduler: Attributes.string(attributes[UInt16(IPVS_SVC_ATTR_SCHED_NAME)]) ?? "",
            flags: flags,
            timeout: Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_TIMEOUT)]) ?? 0,
            netmask: Attributes.u32(attributes[UInt16(IPVS_SVC_ATTR_NETMASK)]),
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
