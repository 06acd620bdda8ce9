import CNetlinkRoute
import Glibc

/// One rtnetlink socket (libnl) bound to one namespace. Synchronous and not thread-safe:
/// use it from one thread only (RouteClient gives it a dedicated one).
public final class RouteSocket {
    public let namespace: NetworkNamespace
    let handle: OpaquePointer
    private var nextSequence: UInt32 = 0x1000_0000
    private var receiveBuffer: [UInt8] = []

    /// Opens the socket inside `namespace`; the calling thread is moved there and back.
    /// Call it on a thread you own (never Swift's cooperative pool) when namespace is not current.
    public init(namespace: NetworkNamespace = .current) throws(NetlinkError) {
        guard let sock = nl_socket_alloc() else { throw .errno(ENOMEM, "allocate netlink socket") }
        do throws(NetlinkError) {
            try namespace.withEntered { () throws(NetlinkError) in
                try Libnl.check(nl_connect(sock, NETLINK_ROUTE), "connect rtnetlink in \(namespace)")
            }
        } catch {
            nl_socket_free(sock)
            throw error
        }
        self.namespace = namespace
        handle = sock
        Socket.tune(nl_socket_get_fd(sock))
    }

    deinit { nl_socket_free(handle) }

    var fd: Int32 { nl_socket_get_fd(handle) }

    // MARK: Links

    /// The index of the link called `name`.
    public func index(of name: String) throws(NetlinkError) -> Int32 {
        var found: OpaquePointer?
        try Libnl.check(rtnl_link_get_kernel(handle, 0, name, &found), "get link \(name)")
        guard let found else { throw .libnl(-NLE_OBJ_NOTFOUND, "get link \(name)") }
        defer { rtnl_link_put(found) }
        return rtnl_link_get_ifindex(found)
    }

    /// The link called `name`, nil when there is none.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        var found: OpaquePointer?
        do throws(NetlinkError) {
            try Libnl.check(rtnl_link_get_kernel(handle, 0, name, &found), "get link \(name)")
        } catch  where error.isNotFound {
            return nil
        }
        guard let found else { return nil }
        defer { rtnl_link_put(found) }
        var value = Self.link(from: found)
        if let master = value.masterIndex {
            value.master = try? links().first { $0.index == master }?.name
        }
        return value
    }

    /// All links of the namespace.
    public func links() throws(NetlinkError) -> [Link] {
        try fillCache("dump links") { rtnl_link_alloc_cache(handle, AF_UNSPEC, &$0) }.read { cache in
            let values = Libnl.objects(cache).map { Self.link(from: $0) }
            let names = Dictionary(
                values.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
            return values.map { link in
                var link = link
                if let master = link.masterIndex { link.master = names[master] }
                return link
            }
        }
    }

    /// Creates a link; fails with isAlreadyExists when the name is taken.
    public func createLink(_ spec: LinkSpec) throws(NetlinkError) {
        let masterIndex = try spec.master.map { name throws(NetlinkError) in try index(of: name) }
        var descriptors: [Int32] = []
        defer {
            for descriptor in descriptors { close(descriptor) }
        }
        var namespaceFD: Int32?
        if let target = spec.namespace, target != .current {
            let fd = try target.openDescriptor()
            descriptors.append(fd)
            namespaceFD = fd
        }
        var peerFD: Int32?
        if case .veth(_, let peerNamespace) = spec.kind, peerNamespace != .current {
            let fd = try peerNamespace.openDescriptor()
            descriptors.append(fd)
            peerFD = fd
        }
        let link = try RouteObjects.link(
            spec, masterIndex: masterIndex, namespaceFD: namespaceFD, peerNamespaceFD: peerFD)
        defer { rtnl_link_put(link) }
        try Libnl.check(
            rtnl_link_add(handle, link, RouteObjects.nlmCreate | RouteObjects.nlmExclusive),
            "create link \(spec.name)")
    }

    /// Changes an existing link: up/down, MTU, MAC, master, namespace.
    public func changeLink(_ name: String, _ change: LinkChange) throws(NetlinkError) {
        let index = try index(of: name)
        var masterIndex: Int32?
        switch change.master {
        case .attach(let master): masterIndex = try self.index(of: master)
        case .detach: masterIndex = 0
        case nil: break
        }
        var namespaceFD: Int32?
        if let target = change.namespace {
            namespaceFD = try target.openDescriptor()
        }
        defer { if let namespaceFD { close(namespaceFD) } }
        let link = try RouteObjects.linkChange(
            index: index, change, masterIndex: masterIndex, namespaceFD: namespaceFD)
        defer { rtnl_link_put(link) }
        try Libnl.check(rtnl_link_add(handle, link, 0), "change link \(name)")
    }

    /// Deletes a link (for a veth, both ends); fails with isNotFound when it is missing.
    public func deleteLink(_ name: String) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw .errno(ENOMEM, "allocate link") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try Libnl.check(rtnl_link_delete(handle, link), "delete link \(name)")
    }

    static func link(from object: OpaquePointer) -> Link {
        let kind = rtnl_link_get_type(object).map { String(cString: $0) }
        let masterIndex = rtnl_link_get_master(object)
        var vxlan: VXLANOptions?
        if kind == "vxlan" {
            var vni: UInt32 = 0
            var port: UInt32 = 0
            _ = rtnl_link_vxlan_get_id(object, &vni)
            _ = rtnl_link_vxlan_get_port(object, &port)
            var local: OpaquePointer?
            _ = rtnl_link_vxlan_get_local(object, &local)
            defer { if let local { nl_addr_put(local) } }
            var ttl: UInt8? = UInt8(clamping: rtnl_link_vxlan_get_ttl(object))
            if ttl == 0 { ttl = nil }
            vxlan = VXLANOptions(
                vni: vni, port: UInt16(truncatingIfNeeded: port), local: Libnl.ipAddress(local),
                learning: rtnl_link_vxlan_get_learning(object) > 0,
                proxy: rtnl_link_vxlan_get_proxy(object) > 0, ttl: ttl)
        }
        return Link(
            index: rtnl_link_get_ifindex(object),
            name: rtnl_link_get_name(object).map { String(cString: $0) } ?? "",
            kind: kind,
            mtu: rtnl_link_get_mtu(object),
            mac: Libnl.macAddress(rtnl_link_get_addr(object)),
            isUp: rtnl_link_get_flags(object) & UInt32(IFF_UP) != 0,
            masterIndex: masterIndex > 0 ? masterIndex : nil,
            master: nil,
            vxlan: vxlan)
    }

    // MARK: Addresses

    /// Adds an address, or updates it when it is already there.
    public func addAddress(_ address: Address) throws(NetlinkError) {
        let object = try RouteObjects.address(address, index: index(of: address.device))
        defer { rtnl_addr_put(object) }
        try Libnl.check(
            rtnl_addr_add(handle, object, RouteObjects.nlmCreate | RouteObjects.nlmReplace),
            "add address \(address.address)/\(address.prefixLength) on \(address.device)")
    }

    public func deleteAddress(_ address: Address) throws(NetlinkError) {
        let object = try RouteObjects.address(address, index: index(of: address.device))
        defer { rtnl_addr_put(object) }
        try Libnl.check(
            rtnl_addr_delete(handle, object, 0),
            "delete address \(address.address)/\(address.prefixLength) on \(address.device)")
    }

    /// Addresses (IPv4 and IPv6), of one device or all.
    public func addresses(device: String? = nil) throws(NetlinkError) -> [Address] {
        let names = try linkNames()
        return try fillCache("dump addresses") { rtnl_addr_alloc_cache(handle, &$0) }.read { cache in
            Libnl.objects(cache).compactMap { object -> Address? in
                guard let name = names[rtnl_addr_get_ifindex(object)],
                    device == nil || device == name,
                    let ip = Libnl.ipAddress(rtnl_addr_get_local(object))
                else { return nil }
                return Address(
                    device: name, address: ip, prefixLength: UInt8(rtnl_addr_get_prefixlen(object)))
            }
        }
    }

    // MARK: Routes

    /// Adds or replaces the route for this destination in its table (idempotent).
    public func replaceRoute(_ route: Route) throws(NetlinkError) {
        let index = try route.device.map { name throws(NetlinkError) in try self.index(of: name) }
        let object = try RouteObjects.route(route, index: index)
        defer { rtnl_route_put(object) }
        try Libnl.check(
            rtnl_route_add(handle, object, RouteObjects.nlmCreate | RouteObjects.nlmReplace),
            "replace route \(route.destination)/\(route.prefixLength)")
    }

    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        let index = try route.device.map { name throws(NetlinkError) in try self.index(of: name) }
        let object = try RouteObjects.route(route, index: index)
        defer { rtnl_route_put(object) }
        try Libnl.check(
            rtnl_route_delete(handle, object, 0), "delete route \(route.destination)/\(route.prefixLength)")
    }

    /// Unicast routes of one table (main by default).
    public func routes(table: UInt32 = Route.mainTable) throws(NetlinkError) -> [Route] {
        let names = try linkNames()
        return try fillCache("dump routes") { rtnl_route_alloc_cache(handle, AF_UNSPEC, 0, &$0) }.read {
            cache in
            Libnl.objects(cache).compactMap { object -> Route? in
                guard rtnl_route_get_table(object) == table, rtnl_route_get_type(object) == UInt8(RTN_UNICAST)
                else { return nil }
                let family = Int32(rtnl_route_get_family(object))
                let prefix = UInt8(nl_addr_get_prefixlen(rtnl_route_get_dst(object)))
                let destination =
                    Libnl.ipAddress(rtnl_route_get_dst(object))
                    ?? IPAddress(bytes: [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16))
                guard let destination else { return nil }
                var route = Route(destination: destination, prefixLength: prefix, table: table)
                if let hop = rtnl_route_nexthop_n(object, 0) {
                    route.gateway = Libnl.ipAddress(rtnl_route_nh_get_gateway(hop))
                    route.device = names[rtnl_route_nh_get_ifindex(hop)]
                    route.onlink = rtnl_route_nh_get_flags(hop) & UInt32(RTNH_F_ONLINK) != 0
                }
                let priority = rtnl_route_get_priority(object)
                route.metric = priority == 0 ? nil : priority
                return route
            }
        }
    }

    // MARK: Neighbours and FDB

    /// Adds or replaces a permanent neighbour entry.
    public func replaceNeighbour(_ neighbour: Neighbour) throws(NetlinkError) {
        let object = try RouteObjects.neighbour(neighbour, index: index(of: neighbour.device))
        defer { rtnl_neigh_put(object) }
        try Libnl.check(
            rtnl_neigh_add(handle, object, RouteObjects.nlmCreate | RouteObjects.nlmReplace),
            "replace neighbour \(neighbour.address) on \(neighbour.device)")
    }

    public func deleteNeighbour(_ neighbour: Neighbour) throws(NetlinkError) {
        let object = try RouteObjects.neighbour(neighbour, index: index(of: neighbour.device))
        defer { rtnl_neigh_put(object) }
        try Libnl.check(
            rtnl_neigh_delete(handle, object, 0),
            "delete neighbour \(neighbour.address) on \(neighbour.device)")
    }

    /// IPv4 and IPv6 neighbour entries, of one device or all.
    public func neighbours(device: String? = nil) throws(NetlinkError) -> [Neighbour] {
        let names = try linkNames()
        var result: [Neighbour] = []
        for family in [AF_INET, AF_INET6] {
            for entry in try neighbourDump(family: family) {
                guard let name = names[entry.index], device == nil || device == name,
                    let ip = entry.destination
                else { continue }
                result.append(Neighbour(device: name, address: ip, mac: entry.mac, state: entry.state))
            }
        }
        return result
    }

    /// Adds or replaces a static FDB entry (MAC -> VTEP) on a vxlan device.
    public func replaceFDBEntry(_ entry: FDBEntry) throws(NetlinkError) {
        let object = try RouteObjects.fdb(entry, index: index(of: entry.device))
        defer { rtnl_neigh_put(object) }
        try Libnl.check(
            rtnl_neigh_add(handle, object, RouteObjects.nlmCreate | RouteObjects.nlmReplace),
            "replace fdb \(entry.mac) on \(entry.device)")
    }

    public func deleteFDBEntry(_ entry: FDBEntry) throws(NetlinkError) {
        let object = try RouteObjects.fdb(entry, index: index(of: entry.device))
        defer { rtnl_neigh_put(object) }
        try Libnl.check(rtnl_neigh_delete(handle, object, 0), "delete fdb \(entry.mac) on \(entry.device)")
    }

    /// Bridge FDB entries (AF_BRIDGE), of one device or all.
    public func fdbEntries(device: String? = nil) throws(NetlinkError) -> [FDBEntry] {
        let names = try linkNames()
        return try neighbourDump(family: AF_BRIDGE).compactMap { entry -> FDBEntry? in
            guard let name = names[entry.index], device == nil || device == name, let mac = entry.mac else {
                return nil
            }
            return FDBEntry(
                device: name, mac: mac, destination: entry.destination,
                isPermanent: entry.state & Neighbour.permanentState != 0,
                isSelf: entry.flags & UInt8(NTF_SELF) != 0)
        }
    }

    private struct RawNeighbour {
        let index: Int32
        let state: UInt16
        let flags: UInt8
        let destination: IPAddress?
        let mac: LinkLayerAddress?
    }

    /// One RTM_GETNEIGH dump of one family, parsed here: libnl's cache dumps AF_UNSPEC, which
    /// the kernel answers without the bridge FDB, and a 10,000-entry cache is slow to build.
    private func neighbourDump(family: Int32) throws(NetlinkError) -> [RawNeighbour] {
        // nlmsghdr (16) + ndmsg (12): family first, the rest zero.
        var request = [UInt8](repeating: 0, count: 28)
        Pipeline.store32(28, in: &request, at: 0)
        Pipeline.store(UInt16(RTM_GETNEIGH), in: &request, at: 4)
        request[16] = UInt8(family)
        nextSequence &+= 1
        let messages = try Dump(fd: fd).run(
            request, sequence: nextSequence, operation: "dump neighbours", buffer: &receiveBuffer)
        return messages.compactMap { message -> RawNeighbour? in
            let bytes = message.payload
            guard message.type == UInt16(RTM_NEWNEIGH), bytes.count >= 12 else { return nil }
            let index = Int32(bitPattern: Attributes.u32(bytes[4..<8]) ?? 0)
            let attributes = Attributes.parse(bytes, from: 12)
            return RawNeighbour(
                index: index, state: Attributes.u16(bytes[8..<10]) ?? 0, flags: bytes[10],
                destination: attributes[UInt16(NDA_DST)].flatMap { IPAddress(bytes: Array($0)) },
                mac: attributes[UInt16(NDA_LLADDR)].flatMap { LinkLayerAddress(bytes: Array($0)) })
        }
    }

    // MARK: Batches

    /// Replaces many neighbour entries in one pipelined batch; one result per entry (nil = done).
    public func replaceNeighbours(_ entries: [Neighbour]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(
            entries.count, add: true, describe: { "replace neighbour \(entries[$0].address)" },
            object: { index, i throws(NetlinkError) in
                try RouteObjects.neighbour(entries[i], index: index(entries[i].device))
            })
    }

    public func deleteNeighbours(_ entries: [Neighbour]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(
            entries.count, add: false, describe: { "delete neighbour \(entries[$0].address)" },
            object: { index, i throws(NetlinkError) in
                try RouteObjects.neighbour(entries[i], index: index(entries[i].device))
            })
    }

    /// Replaces many FDB entries in one pipelined batch; one result per entry (nil = done).
    public func replaceFDBEntries(_ entries: [FDBEntry]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(
            entries.count, add: true, describe: { "replace fdb \(entries[$0].mac)" },
            object: { index, i throws(NetlinkError) in
                try RouteObjects.fdb(entries[i], index: index(entries[i].device))
            })
    }

    public func deleteFDBEntries(_ entries: [FDBEntry]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(
            entries.count, add: false, describe: { "delete fdb \(entries[$0].mac)" },
            object: { index, i throws(NetlinkError) in
                try RouteObjects.fdb(entries[i], index: index(entries[i].device))
            })
    }

    private func neighbourBatch(
        _ count: Int, add: Bool, describe: (Int) -> String,
        object: ((String) throws(NetlinkError) -> Int32, Int) throws(NetlinkError) -> OpaquePointer
    ) throws(NetlinkError) -> [NetlinkError?] {
        var indexes: [String: Int32] = [:]
        let lookup = { (name: String) throws(NetlinkError) -> Int32 in
            if let known = indexes[name] { return known }
            let found = try self.index(of: name)
            indexes[name] = found
            return found
        }
        var messages: [[UInt8]] = []
        messages.reserveCapacity(count)
        let flags = add ? RouteObjects.nlmCreate | RouteObjects.nlmReplace : 0
        for i in 0..<count {
            let neigh = try object(lookup, i)
            defer { rtnl_neigh_put(neigh) }
            messages.append(try RouteObjects.neighbourMessage(neigh, add: add, flags: flags))
        }
        let first = nextSequence
        nextSequence &+= UInt32(count) &+ 1
        return Pipeline(fd: fd).run(messages, firstSequence: first, describe: describe)
    }

    // MARK: Dumps

    private func linkNames() throws(NetlinkError) -> [Int32: String] {
        Dictionary(try links().map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    /// Fills a libnl cache. A dump that changed while it was read (NLE_DUMP_INTR) or lost
    /// messages (NLE_NOMEM from ENOBUFS) is read again, then reported: never half a table.
    private func fillCache(
        _ operation: String, _ fill: (inout OpaquePointer?) -> Int32
    ) throws(NetlinkError) -> OwnedCache {
        var attempt = 0
        while true {
            attempt += 1
            var cache: OpaquePointer?
            let rc = fill(&cache)
            if rc >= 0, let cache { return OwnedCache(cache) }
            if let cache { nl_cache_free(cache) }
            if (rc == -NLE_DUMP_INTR || rc == -NLE_NOMEM) && attempt < 5 { continue }
            throw .libnl(rc, operation)
        }
    }
}

/// A libnl cache freed when the last reference goes.
final class OwnedCache {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { nl_cache_free(pointer) }

    func read<T>(_ body: (OpaquePointer) -> T) -> T { body(pointer) }
}
