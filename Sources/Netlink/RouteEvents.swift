import CNetlinkRoute
import Foundation
import Glibc
import Synchronization

/// A change the kernel announced on rtnetlink multicast groups.
public enum RouteEvent: Sendable, Hashable {
    case link(Link, removed: Bool)
    case address(Address, removed: Bool)
    case neighbour(Neighbour, removed: Bool)
    case fdb(FDBEntry, removed: Bool)
    /// Events were lost (the socket overflowed): dump the state again.
    case resync
}

/// Subscriptions to link, address and neighbour changes in one namespace.
public enum RouteEvents {
    /// Starts listening in `namespace`; the stream ends when the consumer stops iterating it.
    /// Listening starts before this returns, so changes made afterwards are seen.
    public static func subscribe(
        _ namespace: NetworkNamespace = .current
    ) async throws(NetlinkError) -> AsyncStream<RouteEvent> {
        let (stream, continuation) = AsyncStream<RouteEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(65_536))
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        // The listener thread reports once it has joined the groups (or failed to).
        let ready: Result<Void, NetlinkError> = await withCheckedContinuation { started in
            let thread = Thread {
                let listener: Listener
                do throws(NetlinkError) {
                    listener = try Listener(namespace: namespace, continuation: continuation)
                } catch {
                    started.resume(returning: .failure(error))
                    continuation.finish()
                    return
                }
                started.resume(returning: .success(()))
                listener.run(until: stop)
                continuation.finish()
            }
            thread.name = "shoal-rtnl-events"
            thread.start()
        }
        try ready.get()
        return stream
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// Lives on the subscription's own thread.
private final class Listener {
    let events: OpaquePointer
    let lookup: RouteSocket
    let continuation: AsyncStream<RouteEvent>.Continuation
    var names: [Int32: String] = [:]
    var currentType: UInt16 = 0

    init(namespace: NetworkNamespace, continuation: AsyncStream<RouteEvent>.Continuation) throws(NetlinkError)
    {
        self.continuation = continuation
        lookup = try RouteSocket(namespace: namespace)
        guard let sock = nl_socket_alloc() else { throw .errno(ENOMEM, "allocate event socket") }
        events = sock
        nl_socket_disable_seq_check(sock)
        try namespace.withEntered { () throws(NetlinkError) in
            try Libnl.check(nl_connect(sock, NETLINK_ROUTE), "connect event socket in \(namespace)")
        }
        for group in [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_NEIGH] {
            try Libnl.check(nl_socket_add_membership(sock, Int32(group.rawValue)), "join rtnetlink group")
        }
        _ = nl_socket_set_buffer_size(sock, 4 << 20, 0)
        _ = Socket.setIntOption(nl_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        for link in (try? lookup.links()) ?? [] { names[link.index] = link.name }
    }

    deinit { nl_socket_free(events) }

    func run(until stop: StopFlag) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        nl_socket_modify_cb(
            events, NL_CB_VALID, NL_CB_CUSTOM,
            { message, argument in
                guard let message, let argument else { return Int32(NL_OK.rawValue) }
                let listener = Unmanaged<Listener>.fromOpaque(argument).takeUnretainedValue()
                listener.currentType = nlmsg_hdr(message)?.pointee.nlmsg_type ?? 0
                _ = nl_msg_parse(
                    message,
                    { object, argument in
                        guard let object, let argument else { return }
                        Unmanaged<Listener>.fromOpaque(argument).takeUnretainedValue().handle(object)
                    }, argument)
                return Int32(NL_OK.rawValue)
            }, context)
        var poller = pollfd(fd: nl_socket_get_fd(events), events: Int16(POLLIN), revents: 0)
        while !stop.isSet {
            let ready = poll(&poller, 1, 200)
            if ready <= 0 { continue }
            let rc = nl_recvmsgs_default(events)
            if rc == -NLE_NOMEM { continuation.yield(.resync) }
        }
    }

    private func name(of index: Int32) -> String? {
        if let known = names[index] { return known }
        var found: OpaquePointer?
        guard rtnl_link_get_kernel(lookup.handle, index, nil, &found) >= 0, let found else { return nil }
        defer { rtnl_link_put(found) }
        let name = rtnl_link_get_name(found).map { String(cString: $0) }
        names[index] = name
        return name
    }

    func handle(_ object: OpaquePointer) {
        let type = Int32(currentType)
        switch String(cString: nl_object_get_type(object)) {
        case "route/link":
            var link = RouteSocket.link(from: object)
            let removed = type == RTM_DELLINK
            if removed { names[link.index] = nil } else { names[link.index] = link.name }
            link.master = link.masterIndex.flatMap { names[$0] }
            continuation.yield(.link(link, removed: removed))
        case "route/addr":
            guard let device = name(of: rtnl_addr_get_ifindex(object)),
                let ip = Libnl.ipAddress(rtnl_addr_get_local(object))
            else { return }
            let address = Address(
                device: device, address: ip, prefixLength: UInt8(rtnl_addr_get_prefixlen(object)))
            continuation.yield(.address(address, removed: type == RTM_DELADDR))
        case "route/neigh":
            guard let device = name(of: rtnl_neigh_get_ifindex(object)) else { return }
            let removed = type == RTM_DELNEIGH
            if rtnl_neigh_get_family(object) == AF_BRIDGE {
                guard let mac = Libnl.macAddress(rtnl_neigh_get_lladdr(object)) else { return }
                let entry = FDBEntry(
                    device: device, mac: mac, destination: Libnl.ipAddress(rtnl_neigh_get_dst(object)),
                    isPermanent: rtnl_neigh_get_state(object) & Int32(NUD_PERMANENT) != 0,
                    isSelf: rtnl_neigh_get_flags(object) & UInt32(NTF_SELF) != 0)
                continuation.yield(.fdb(entry, removed: removed))
            } else if let ip = Libnl.ipAddress(rtnl_neigh_get_dst(object)) {
                let neighbour = Neighbour(
                    device: device, address: ip, mac: Libnl.macAddress(rtnl_neigh_get_lladdr(object)),
                    state: UInt16(truncatingIfNeeded: rtnl_neigh_get_state(object)))
                continuation.yield(.neighbour(neighbour, removed: removed))
            }
        default:
            return
        }
    }
}
