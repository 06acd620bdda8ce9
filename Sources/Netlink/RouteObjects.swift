import CNetlinkRoute
import Glibc

/// Builds libnl route objects from Shoal's values. Every function returns an object the caller
/// releases (rtnl_*_put); nothing here touches a socket, so the golden tests use it directly.
enum RouteObjects {
    static let nlmCreate = Int32(NLM_F_CREATE)
    static let nlmExclusive = Int32(NLM_F_EXCL)
    static let nlmReplace = Int32(NLM_F_REPLACE)

    /// A link to create. `masterIndex` and the namespace descriptors are already resolved.
    static func link(
        _ spec: LinkSpec, masterIndex: Int32?, namespaceFD: Int32?, peerNamespaceFD: Int32?
    ) throws(NetlinkError) -> OpaquePointer {
        let made: OpaquePointer?
        switch spec.kind {
        case .veth: made = rtnl_link_veth_alloc()
        default: made = rtnl_link_alloc()
        }
        guard let link = made else { throw .errno(ENOMEM, "allocate link \(spec.name)") }
        do throws(NetlinkError) {
            rtnl_link_set_name(link, spec.name)
            switch spec.kind {
            case .bridge:
                try Libnl.check(rtnl_link_set_type(link, "bridge"), "set type bridge")
            case .dummy:
                try Libnl.check(rtnl_link_set_type(link, "dummy"), "set type dummy")
            case .vxlan(let options):
                try Libnl.check(rtnl_link_set_type(link, "vxlan"), "set type vxlan")
                try vxlan(link, options)
            case .veth(let peerName, _):
                guard let peer = rtnl_link_veth_get_peer(link) else {
                    throw .errno(ENOMEM, "veth peer of \(spec.name)")
                }
                defer { rtnl_link_put(peer) }
                rtnl_link_set_name(peer, peerName)
                if let peerNamespaceFD { rtnl_link_set_ns_fd(peer, peerNamespaceFD) }
                if let mtu = spec.mtu { rtnl_link_set_mtu(peer, mtu) }
                if let mac = spec.peerMAC {
                    let address = try Libnl.address(mac)
                    defer { nl_addr_put(address) }
                    rtnl_link_set_addr(peer, address)
                }
            }
            if let mtu = spec.mtu { rtnl_link_set_mtu(link, mtu) }
            if let mac = spec.mac {
                let address = try Libnl.address(mac)
                defer { nl_addr_put(address) }
                rtnl_link_set_addr(link, address)
            }
            if let masterIndex { rtnl_link_set_master(link, masterIndex) }
            if spec.up { rtnl_link_set_flags(link, UInt32(IFF_UP)) }
            if let namespaceFD { rtnl_link_set_ns_fd(link, namespaceFD) }
            return link
        } catch {
            rtnl_link_put(link)
            throw error
        }
    }

    private static func vxlan(_ link: OpaquePointer, _ options: VXLANOptions) throws(NetlinkError) {
        try Libnl.check(rtnl_link_vxlan_set_id(link, options.vni), "set vxlan id")
        // Always set: libnl would otherwise leave the port to the kernel default, 8472.
        try Libnl.check(rtnl_link_vxlan_set_port(link, UInt32(options.port)), "set vxlan port")
        try Libnl.check(rtnl_link_vxlan_set_learning(link, options.learning ? 1 : 0), "set vxlan learning")
        try Libnl.check(rtnl_link_vxlan_set_proxy(link, options.proxy ? 1 : 0), "set vxlan proxy")
        if let ttl = options.ttl {
            try Libnl.check(rtnl_link_vxlan_set_ttl(link, ttl), "set vxlan ttl")
        }
        if let local = options.local {
            let address = try Libnl.address(local)
            defer { nl_addr_put(address) }
            try Libnl.check(rtnl_link_vxlan_set_local(link, address), "set vxlan local")
        }
    }

    /// Changes to the link with `index`.
    static func linkChange(
        index: Int32, _ change: LinkChange, masterIndex: Int32?, namespaceFD: Int32?
    ) throws(NetlinkError) -> OpaquePointer {
        guard let link = rtnl_link_alloc() else { throw .errno(ENOMEM, "allocate link") }
        rtnl_link_set_ifindex(link, index)
        if let up = change.up {
            if up {
                rtnl_link_set_flags(link, UInt32(IFF_UP))
            } else {
                rtnl_link_unset_flags(link, UInt32(IFF_UP))
            }
        }
        if let mtu = change.mtu { rtnl_link_set_mtu(link, mtu) }
        if let mac = change.mac {
            do throws(NetlinkError) {
                let address = try Libnl.address(mac)
                defer { nl_addr_put(address) }
                rtnl_link_set_addr(link, address)
            } catch {
                rtnl_link_put(link)
                throw error
            }
        }
        if let masterIndex { rtnl_link_set_master(link, masterIndex) }
        if let namespaceFD { rtnl_link_set_ns_fd(link, namespaceFD) }
        if let name = change.name { rtnl_link_set_name(link, name) }
        return link
    }

    static func address(_ address: Address, index: Int32) throws(NetlinkError) -> OpaquePointer {
        guard let made = rtnl_addr_alloc() else { throw .errno(ENOMEM, "allocate address") }
        do throws(NetlinkError) {
            let local = try Libnl.address(address.address, prefixLength: address.prefixLength)
            defer { nl_addr_put(local) }
            rtnl_addr_set_ifindex(made, index)
            rtnl_addr_set_family(made, address.address.family)
            try Libnl.check(rtnl_addr_set_local(made, local), "set address \(address.address)")
            rtnl_addr_set_prefixlen(made, Int32(address.prefixLength))
            // IPv6 addresses are usable at once: Shoal owns these subnets, DAD would only delay.
            if !address.address.isIPv4 { rtnl_addr_set_flags(made, UInt32(IFA_F_NODAD)) }
            return made
        } catch {
            rtnl_addr_put(made)
            throw error
        }
    }

    static func route(_ route: Route, index: Int32?) throws(NetlinkError) -> OpaquePointer {
        guard let made = rtnl_route_alloc() else { throw .errno(ENOMEM, "allocate route") }
        do throws(NetlinkError) {
            let destination = try Libnl.address(route.destination, prefixLength: route.prefixLength)
            defer { nl_addr_put(destination) }
            try Libnl.check(rtnl_route_set_family(made, UInt8(route.destination.family)), "set family")
            try Libnl.check(rtnl_route_set_dst(made, destination), "set destination")
            rtnl_route_set_table(made, route.table)
            try Libnl.check(rtnl_route_set_type(made, route.type.rawValue), "set type")
            rtnl_route_set_protocol(made, route.protocol.rawValue)
            rtnl_route_set_scope(made, route.scope.rawValue)
            if let metric = route.metric { rtnl_route_set_priority(made, metric) }
            if index != nil || route.gateway != nil {
                guard let hop = rtnl_route_nh_alloc() else { throw .errno(ENOMEM, "allocate next hop") }
                if let index { rtnl_route_nh_set_ifindex(hop, index) }
                if let gateway = route.gateway {
                    let address = try Libnl.address(gateway)
                    defer { nl_addr_put(address) }
                    rtnl_route_nh_set_gateway(hop, address)
                }
                if route.onlink { rtnl_route_nh_set_flags(hop, UInt32(RTNH_F_ONLINK)) }
                rtnl_route_add_nexthop(made, hop)  // The route owns the hop from here.
            }
            return made
        } catch {
            rtnl_route_put(made)
            throw error
        }
    }
}
