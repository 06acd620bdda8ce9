import CNetlinkRoute
import Glibc

/// One rtnetlink socket in one namespace. Synchronous and not thread-safe: use it from one
/// thread at a time (RouteClient pins it to one pool thread).
///
/// The socket is Shoal's own (close-on-exec, kernel-assigned port) and every reply is read by
/// the sequence-checked readers (Exchange, Dump, Pipeline): errors are the kernel's errno with
/// its extended-ack text. libnl only builds the link, address and route request messages.
public final class RouteSocket {
    public let namespace: NetworkNamespace
    let fd: Int32
    private var nextSequence: UInt32 = 0x1000_0000
    /// Batches send many requests before reading ACKs; false sends one and waits for its ACK
    /// (iproute2's way; the benchmark's control run).
    public var pipelining = true

    /// Opens the socket inside `namespace`; the calling thread is moved there and back.
    /// Call it on a thread you own (never Swift's cooperative pool) when namespace is not current.
    public init(namespace: NetworkNamespace = .current) throws(NetlinkError) {
        fd = try Socket.openNetlink(NETLINK_ROUTE, in: namespace)
        self.namespace = namespace
    }

    /// Over an already open descriptor (the tests' fake kernel); closed on deinit.
    init(descriptor: Int32, namespace: NetworkNamespace = .current) {
        fd = descriptor
        self.namespace = namespace
    }

    deinit { close(fd) }

    private func sequence() -> UInt32 {
        nextSequence &+= 1
        return nextSequence
    }

    /// One request, waiting for its ACK; the data messages that answered it.
    @discardableResult
    private func exchange(_ message: [UInt8], _ operation: @autoclosure () -> String) throws(NetlinkError)
        -> [Dump.Message]
    {
        try Exchange.run(fd: fd, message, sequence: sequence(), operation: operation())
    }

    private func dump(_ message: [UInt8], _ operation: @autoclosure () -> String) throws(NetlinkError)
        -> [Dump.Message]
    {
        try Dump(fd: fd).run(
            message, sequence: sequence(), operation: operation(), buffer: &ReceiveSpace.current.bytes)
    }

    /// Builds a message with a libnl `build` function and sends it, waiting for the ACK.
    private func send(_ operation: @autoclosure () -> String, _ build: (inout OpaquePointer?) -> Int32)
        throws(NetlinkError)
    {
        try exchange(try RouteSocket.bytes(operation(), build), operation())
    }

    /// The bytes of a request libnl builds.
    private static func bytes(
        _ operation: @autoclosure () -> String, _ build: (inout OpaquePointer?) -> Int32
    )
        throws(NetlinkError) -> [UInt8]
    {
        var message: OpaquePointer?
        let rc = build(&message)
        guard rc >= 0, let message else {
            if let message { nlmsg_free(message) }
            throw .errno(
                rc == -NLE_NOMEM ? ENOMEM : EINVAL, operation(), detail: "libnl could not build the request")
        }
        defer { nlmsg_free(message) }
        return Libnl.messageBytes(message)
    }

    // MARK: Links

    /// The index of the link called `name`; isNotFound (ENODEV) when there is none.
    public func index(of name: String) throws(NetlinkError) -> Int32 {
        guard let link = try link(index: 0, name: name) else {
            throw .errno(ENODEV, "get link \(name)", detail: "no such link")
        }
        return link.index
    }

    /// The link called `name`, nil when there is none.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        try withMaster(try link(index: 0, name: name))
    }

    /// The link with this index, nil when there is none.
    public func link(index: Int32) throws(NetlinkError) -> Link? {
        try withMaster(try link(index: index, name: nil))
    }

    private func withMaster(_ link: Link?) throws(NetlinkError) -> Link? {
        guard var link, let master = link.masterIndex else { return link }
        link.master = try self.link(index: master, name: nil)?.name
        return link
    }

    private func link(index: Int32, name: String?) throws(NetlinkError) -> Link? {
        let describe = name ?? "index \(index)"
        do throws(NetlinkError) {
            let replies = try exchange(
                RtnetlinkParsing.getLinkRequest(index: index, name: name), "get link \(describe)")
            return replies.lazy.filter { $0.type == RtnetlinkParsing.newLink }.compactMap {
                RtnetlinkParsing.link($0.payload)
            }.first
        } catch  where error.isNotFound {
            return nil
        }
    }

    /// All links of the namespace.
    public func links() throws(NetlinkError) -> [Link] {
        let values = try dump(
            RtnetlinkParsing.dumpRequest(type: RtnetlinkParsing.getLink, fixedLength: 16), "dump links"
        ).compactMap { $0.type == RtnetlinkParsing.newLink ? RtnetlinkParsing.link($0.payload) : nil }
        let names = Dictionary(values.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        return values.map { link in
            var link = link
            if let master = link.masterIndex { link.master = names[master] }
            return link
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
        try send("create link \(spec.name)") {
            rtnl_link_build_add_request(link, RouteObjects.nlmCreate | RouteObjects.nlmExclusive, &$0)
        }
        // The kernel cannot bring a veth peer up in the creating request (it has no peer yet:
        // ENOTCONN), so that is a second request, in the peer's namespace.
        if case .veth(let peerName, let peerNamespace) = spec.kind, spec.peerUp {
            let peerSocket = peerNamespace == .current ? self : try RouteSocket(namespace: peerNamespace)
            try peerSocket.changeLink(peerName, LinkChange(up: true))
        }
    }

    /// Changes an existing link: up/down, MTU, MAC, master, namespace, name.
    public func changeLink(_ name: String, _ change: LinkChange) throws(NetlinkError) {
        try changeLink(index: try index(of: name), change, describe: name)
    }

    /// Changes the link with this index.
    public func changeLink(index: Int32, _ change: LinkChange) throws(NetlinkError) {
        try changeLink(index: index, change, describe: "index \(index)")
    }

    private func changeLink(index: Int32, _ change: LinkChange, describe name: String) throws(NetlinkError) {
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
        try send("change link \(name)") { rtnl_link_build_add_request(link, 0, &$0) }
    }

    /// Deletes a link (for a veth, both ends); fails with isNotFound when it is missing.
    public func deleteLink(_ name: String) throws(NetlinkError) {
        try deleteLink(describe: name) { rtnl_link_set_name($0, name) }
    }

    /// Deletes the link with this index.
    public func deleteLink(index: Int32) throws(NetlinkError) {
        try deleteLink(describe: "index \(index)") { rtnl_link_set_ifindex($0, index) }
    }

    private func deleteLink(describe: String, _ identify: (OpaquePointer) -> Void) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw .errno(ENOMEM, "allocate link") }
        defer { rtnl_link_put(link) }
        identify(link)
        try send("delete link \(describe)") { rtnl_link_build_delete_request(link, &$0) }
    }

    // MARK: Addresses

    /// Adds an address, or updates it when it is already there.
    public func addAddress(_ address: Address) throws(NetlinkError) {
        let object = try RouteObjects.address(address, index: index(of: address.device))
        defer { rtnl_addr_put(object) }
        try send("add address \(address.address)/\(address.prefixLength) on \(address.device)") {
            rtnl_addr_build_add_request(object, RouteObjects.nlmCreate | RouteObjects.nlmReplace, &$0)
        }
    }

    /// Adds (or updates) many addresses in one pipelined batch; one result per address (nil = done).
    public func addAddresses(_ addresses: [Address]) throws(NetlinkError) -> [NetlinkError?] {
        try batch(
            addresses, device: \.device,
            describe: { "add address \($0.address)/\($0.prefixLength) on \($0.device)" },
            message: { address, index throws(NetlinkError) in
                let object = try RouteObjects.address(address, index: index)
                defer { rtnl_addr_put(object) }
                return try RouteSocket.bytes("add address \(address.address)") {
                    rtnl_addr_build_add_request(object, RouteObjects.nlmCreate | RouteObjects.nlmReplace, &$0)
                }
            })
    }

    public func deleteAddress(_ address: Address) throws(NetlinkError) {
        let object = try RouteObjects.address(address, index: index(of: address.device))
        defer { rtnl_addr_put(object) }
        try send("delete address \(address.address)/\(address.prefixLength) on \(address.device)") {
            rtnl_addr_build_delete_request(object, 0, &$0)
        }
    }

    /// Addresses (IPv4 and IPv6), of one device or all.
    public func addresses(device: String? = nil) throws(NetlinkError) -> [Address] {
        let parsed = try dump(
            RtnetlinkParsing.dumpRequest(type: RtnetlinkParsing.getAddress, fixedLength: 8), "dump addresses"
        ).compactMap { $0.type == RtnetlinkParsing.newAddress ? RtnetlinkParsing.address($0.payload) : nil }
        let names = try deviceNames(parsed.map(\.index), operation: "dump addresses")
        return parsed.compactMap { entry in
            guard let name = names[entry.index], device == nil || device == name else { return nil }
            return Address(device: name, address: entry.address, prefixLength: entry.prefixLength)
        }
    }

    // MARK: Routes

    /// Adds or replaces the route for this destination in its table (idempotent).
    public func replaceRoute(_ route: Route) throws(NetlinkError) {
        let index = try route.device.map { name throws(NetlinkError) in try self.index(of: name) }
        let object = try RouteObjects.route(route, index: index)
        defer { rtnl_route_put(object) }
        try send("replace route \(route.destination)/\(route.prefixLength)") {
            rtnl_route_build_add_request(object, RouteObjects.nlmCreate | RouteObjects.nlmReplace, &$0)
        }
    }

    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        let index = try route.device.map { name throws(NetlinkError) in try self.index(of: name) }
        let object = try RouteObjects.route(route, index: index)
        defer { rtnl_route_put(object) }
        try send("delete route \(route.destination)/\(route.prefixLength)") {
            rtnl_route_build_del_request(object, 0, &$0)
        }
    }

    /// Routes of one table (main by default), of every type; only `protocol`'s when given.
    public func routes(table: UInt32 = Route.mainTable, protocol: RouteProtocol? = nil) throws(NetlinkError)
        -> [Route]
    {
        let parsed = try dump(
            RtnetlinkParsing.dumpRequest(type: RtnetlinkParsing.getRoute, fixedLength: 12), "dump routes"
        ).compactMap { $0.type == RtnetlinkParsing.newRoute ? RtnetlinkParsing.route($0.payload) : nil }
            .filter { $0.route.table == table && (`protocol` == nil || $0.route.protocol == `protocol`) }
        let names = try deviceNames(parsed.map(\.deviceIndex).filter { $0 > 0 }, operation: "dump routes")
        return parsed.map { entry in
            var route = entry.route
            route.device = entry.deviceIndex > 0 ? names[entry.deviceIndex] : nil
            return route
        }
    }

    // MARK: Neighbours and FDB

    /// Adds or replaces a neighbour entry (permanent unless the value says otherwise).
    public func replaceNeighbour(_ neighbour: Neighbour) throws(NetlinkError) {
        try single(replaceNeighbours([neighbour]))
    }

    public func deleteNeighbour(_ neighbour: Neighbour) throws(NetlinkError) {
        try single(deleteNeighbours([neighbour]))
    }

    /// IPv4 and IPv6 neighbour entries, of one device or all.
    public func neighbours(device: String? = nil) throws(NetlinkError) -> [Neighbour] {
        let entries = try neighbourDump(family: AF_INET) + neighbourDump(family: AF_INET6)
        let names = try deviceNames(entries.map(\.index), operation: "dump neighbours")
        return entries.compactMap { entry in
            guard let name = names[entry.index], device == nil || device == name else { return nil }
            return entry.neighbour(device: name)
        }
    }

    /// Adds or replaces an FDB entry (MAC -> VTEP on a vxlan device, by default permanent and
    /// NTF_SELF). For a MAC with several VTEPs (the all-zero MAC floods to each) use `appendFDBEntry`.
    public func replaceFDBEntry(_ entry: FDBEntry) throws(NetlinkError) {
        try single(replaceFDBEntries([entry]))
    }

    /// Adds one more destination for the entry's MAC (NLM_F_APPEND, `bridge fdb append`).
    public func appendFDBEntry(_ entry: FDBEntry) throws(NetlinkError) {
        try single(appendFDBEntries([entry]))
    }

    /// Deletes the entry; with a destination, only that destination of the MAC.
    public func deleteFDBEntry(_ entry: FDBEntry) throws(NetlinkError) {
        try single(deleteFDBEntries([entry]))
    }

    /// Bridge FDB entries (AF_BRIDGE), of one device or all.
    public func fdbEntries(device: String? = nil) throws(NetlinkError) -> [FDBEntry] {
        let entries = try neighbourDump(family: AF_BRIDGE)
        let names = try deviceNames(entries.map(\.index), operation: "dump fdb")
        return entries.compactMap { entry -> FDBEntry? in
            guard let name = names[entry.index], device == nil || device == name else { return nil }
            return entry.fdb(device: name)
        }
    }

    /// One RTM_GETNEIGH dump of one family, parsed here: libnl's cache dumps AF_UNSPEC, which
    /// the kernel answers without the bridge FDB, and a 10,000-entry cache is slow to build.
    private func neighbourDump(family: Int32) throws(NetlinkError) -> [NeighbourMessages.Entry] {
        let messages = try dump(NeighbourMessages.dumpRequest(family: family), "dump neighbours")
        return messages.compactMap { message in
            message.type == NeighbourMessages.newType ? NeighbourMessages.parse(message.payload) : nil
        }
    }

    // MARK: Batches

    /// Replaces many neighbour entries in one pipelined batch; one result per entry (nil = done).
    public func replaceNeighbours(_ entries: [Neighbour]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(
            entries, verb: "replace", add: true, flags: NeighbourMessages.create | NeighbourMessages.replace)
    }

    public func deleteNeighbours(_ entries: [Neighbour]) throws(NetlinkError) -> [NetlinkError?] {
        try neighbourBatch(entries, verb: "delete", add: false, flags: 0)
    }

    /// Replaces many FDB entries in one pipelined batch; one result per entry (nil = done).
    public func replaceFDBEntries(_ entries: [FDBEntry]) throws(NetlinkError) -> [NetlinkError?] {
        try fdbBatch(
            entries, verb: "replace", add: true, flags: NeighbourMessages.create | NeighbourMessages.replace)
    }

    /// Appends many FDB destinations in one batch (NLM_F_CREATE|NLM_F_APPEND).
    public func appendFDBEntries(_ entries: [FDBEntry]) throws(NetlinkError) -> [NetlinkError?] {
        try fdbBatch(
            entries, verb: "append", add: true, flags: NeighbourMessages.create | NeighbourMessages.append)
    }

    public func deleteFDBEntries(_ entries: [FDBEntry]) throws(NetlinkError) -> [NetlinkError?] {
        try fdbBatch(entries, verb: "delete", add: false, flags: 0)
    }

    private func neighbourBatch(_ entries: [Neighbour], verb: String, add: Bool, flags: UInt16)
        throws(NetlinkError) -> [NetlinkError?]
    {
        try batch(
            entries, device: \.device, describe: { "\(verb) neighbour \($0.address) on \($0.device)" },
            message: { entry, index throws(NetlinkError) in
                try NeighbourMessages.neighbour(entry, index: index, add: add, flags: flags)
            })
    }

    private func fdbBatch(_ entries: [FDBEntry], verb: String, add: Bool, flags: UInt16) throws(NetlinkError)
        -> [NetlinkError?]
    {
        try batch(
            entries, device: \.device, describe: { "\(verb) fdb \($0.mac) on \($0.device)" },
            message: { entry, index throws(NetlinkError) in
                try NeighbourMessages.fdb(entry, index: index, add: add, flags: flags)
            })
    }

    /// Builds one message per value (device names resolved once each) and pipelines them.
    private func batch<Value>(
        _ values: [Value], device: (Value) -> String, describe: (Value) -> String,
        message: (Value, Int32) throws(NetlinkError) -> [UInt8]
    ) throws(NetlinkError) -> [NetlinkError?] {
        var indexes: [String: Int32] = [:]
        var messages: [[UInt8]] = []
        messages.reserveCapacity(values.count)
        for value in values {
            let name = device(value)
            let index: Int32
            if let known = indexes[name] {
                index = known
            } else {
                index = try self.index(of: name)
                indexes[name] = index
            }
            messages.append(try message(value, index))
        }
        let first = nextSequence &+ 1
        nextSequence &+= UInt32(values.count) &+ 1
        return Pipeline(fd: fd, pipelining: pipelining).run(messages, firstSequence: first) {
            describe(values[$0])
        }
    }

    /// The one result of a one-request batch, thrown.
    private func single(_ results: [NetlinkError?]) throws(NetlinkError) {
        if let first = results.first, let error = first { throw error }
    }

    // MARK: Device names

    /// Names for the device indexes a dump referred to. The links are dumped once; an index not
    /// there (a link made since) is looked up on its own; one that is gone by then means the
    /// table changed under the dump: that is reported (isDumpInterrupted), never dropped silently.
    private func deviceNames(_ indexes: [Int32], operation: String) throws(NetlinkError) -> [Int32: String] {
        var names = Dictionary(
            try links().map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        for index in Set(indexes) where names[index] == nil {
            guard let link = try link(index: index, name: nil) else {
                throw .errno(
                    EINTR, operation,
                    detail: NetlinkError.inconsistentDump + " (link \(index) vanished); read it again")
            }
            names[index] = link.name
        }
        return names
    }
}
