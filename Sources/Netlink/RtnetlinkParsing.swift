import CNetlinkRoute
import Glibc

/// Parses rtnetlink link, address and route messages (dump replies and events) in Swift.
/// Payloads start after nlmsghdr. Device names are resolved by the caller.
enum RtnetlinkParsing {
    static let newLink: UInt16 = 16  // RTM_NEWLINK
    static let deleteLink: UInt16 = 17
    static let getLink: UInt16 = 18
    static let newAddress: UInt16 = 20  // RTM_NEWADDR
    static let deleteAddress: UInt16 = 21
    static let getAddress: UInt16 = 22
    static let newRoute: UInt16 = 24  // RTM_NEWROUTE
    static let getRoute: UInt16 = 26

    /// A link; `master` is left nil (it is a name).
    static func link(_ payload: [UInt8]) -> Link? {
        guard payload.count >= 16 else { return nil }
        let index = Int32(bitPattern: Attributes.u32(payload[4..<8]) ?? 0)
        let flags = Attributes.u32(payload[8..<12]) ?? 0
        let attributes = Attributes.parse(payload, from: 16)
        guard let name = Attributes.string(attributes[UInt16(IFLA_IFNAME)]) else { return nil }
        let info = attributes[UInt16(IFLA_LINKINFO)].map { Attributes.parse($0) }
        let kind = Attributes.string(info?[UInt16(IFLA_INFO_KIND)])
        var vxlan: VXLANOptions?
        if kind == "vxlan", let data = info?[UInt16(IFLA_INFO_DATA)].map({ Attributes.parse($0) }) {
            let ttl = data[UInt16(IFLA_VXLAN_TTL)]?.first ?? 0
            let local =
                data[UInt16(IFLA_VXLAN_LOCAL)].flatMap { IPAddress(bytes: Array($0)) }
                ?? data[UInt16(IFLA_VXLAN_LOCAL6)].flatMap { IPAddress(bytes: Array($0)) }
            vxlan = VXLANOptions(
                vni: Attributes.u32(data[UInt16(IFLA_VXLAN_ID)]) ?? 0,
                port: Attributes.u16(data[UInt16(IFLA_VXLAN_PORT)]).map { UInt16(bigEndian: $0) } ?? 0,
                local: local,
                learning: (data[UInt16(IFLA_VXLAN_LEARNING)]?.first ?? 0) != 0,
                proxy: (data[UInt16(IFLA_VXLAN_PROXY)]?.first ?? 0) != 0,
                ttl: ttl == 0 ? nil : ttl)
        }
        let master = Attributes.u32(attributes[UInt16(IFLA_MASTER)]).map { Int32(bitPattern: $0) } ?? 0
        let parent = Attributes.u32(attributes[UInt16(IFLA_LINK)]).map { Int32(bitPattern: $0) } ?? 0
        let namespaceID = Attributes.u32(attributes[UInt16(IFLA_LINK_NETNSID)]).map { Int32(bitPattern: $0) }
        return Link(
            index: index, name: name, kind: kind, mtu: Attributes.u32(attributes[UInt16(IFLA_MTU)]) ?? 0,
            mac: attributes[UInt16(IFLA_ADDRESS)].flatMap { LinkLayerAddress(bytes: Array($0)) },
            isUp: flags & UInt32(IFF_UP) != 0, masterIndex: master > 0 ? master : nil, master: nil,
            vxlan: vxlan, parentIndex: parent > 0 ? parent : nil,
            linkNamespaceID: namespaceID.flatMap { $0 >= 0 ? $0 : nil })
    }

    /// An address and the index of its device.
    static func address(_ payload: [UInt8]) -> (index: Int32, address: IPAddress, prefixLength: UInt8)? {
        guard payload.count >= 8 else { return nil }
        let attributes = Attributes.parse(payload, from: 8)
        // IFA_LOCAL is the interface's own address (differs from IFA_ADDRESS on point-to-point).
        guard
            let ip = (attributes[UInt16(IFA_LOCAL)] ?? attributes[UInt16(IFA_ADDRESS)]).flatMap({
                IPAddress(bytes: Array($0))
            })
        else { return nil }
        return (Int32(bitPattern: Attributes.u32(payload[4..<8]) ?? 0), ip, payload[1])
    }

    /// A route and the index of its first next hop's device (0 when none).
    static func route(_ payload: [UInt8]) -> (route: Route, deviceIndex: Int32)? {
        guard payload.count >= 12 else { return nil }
        let family = Int32(payload[0])
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let attributes = Attributes.parse(payload, from: 12)
        let zero = [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)
        guard let destination = IPAddress(bytes: attributes[UInt16(RTA_DST.rawValue)].map(Array.init) ?? zero)
        else { return nil }
        var gateway = attributes[UInt16(RTA_GATEWAY.rawValue)].flatMap { IPAddress(bytes: Array($0)) }
        var deviceIndex =
            Attributes.u32(attributes[UInt16(RTA_OIF.rawValue)]).map { Int32(bitPattern: $0) } ?? 0
        var hopFlags =
            UInt32(payload[11]) << 24 | UInt32(payload[10]) << 16 | UInt32(payload[9]) << 8
            | UInt32(payload[8])
        // A multipath route: Shoal models one hop, the first (struct rtnexthop: len, flags, hops, ifindex).
        if let hops = attributes[UInt16(RTA_MULTIPATH.rawValue)], hops.count >= 8 {
            let start = hops.startIndex
            let length = Int(Attributes.u16(hops) ?? 0)
            hopFlags = UInt32(hops[start + 2])
            deviceIndex = Int32(bitPattern: Attributes.u32(hops[(start + 4)..<(start + 8)]) ?? 0)
            if length > 8, start + length <= hops.endIndex {
                let nested = Attributes.parse(hops[(start + 8)..<(start + length)])
                gateway = nested[UInt16(RTA_GATEWAY.rawValue)].flatMap { IPAddress(bytes: Array($0)) }
            }
        }
        let priority = Attributes.u32(attributes[UInt16(RTA_PRIORITY.rawValue)]) ?? 0
        let route = Route(
            destination: destination, prefixLength: payload[1], gateway: gateway, device: nil,
            onlink: hopFlags & UInt32(RTNH_F_ONLINK) != 0,
            table: Attributes.u32(attributes[UInt16(RTA_TABLE.rawValue)]) ?? UInt32(payload[4]),
            metric: priority == 0 ? nil : priority, protocol: RouteProtocol(rawValue: payload[5]),
            scope: RouteScope(rawValue: payload[6]), type: RouteType(rawValue: payload[7]))
        return (route, deviceIndex)
    }

    /// A dump request: nlmsghdr then the family header `fixed` (family in its first byte).
    static func dumpRequest(type: UInt16, fixedLength: Int, family: Int32 = AF_UNSPEC) -> [UInt8] {
        var fixed = [UInt8](repeating: 0, count: fixedLength)
        fixed[0] = UInt8(truncatingIfNeeded: family)
        return MessageBuilder(type: type, flags: 0, fixed: fixed).message
    }

    /// RTM_GETLINK for one link, by index or (index 0) by name.
    static func getLinkRequest(index: Int32, name: String?) throws(NetlinkError) -> [UInt8] {
        var fixed = [UInt8](repeating: 0, count: 16)
        Pipeline.store32(UInt32(bitPattern: index), in: &fixed, at: 4)
        var builder = MessageBuilder(type: getLink, flags: 0, fixed: fixed)
        if let name { try builder.putString(UInt16(IFLA_IFNAME), name, maxLength: 16, what: "link name") }
        return builder.message
    }
}
