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
    /// Events were lost (the kernel socket overflowed, or the consumer fell more than the
    /// stream's buffer behind): dump the state again.
    case resync
}

/// Subscriptions to link, address and neighbour changes in one namespace.
public enum RouteEvents {
    /// Events the stream holds for a slow consumer before it drops new ones and owes a `.resync`.
    public static let defaultBufferSize = 65_536

    /// Starts listening in `namespace`; the stream ends when the consumer stops iterating it.
    /// Listening starts before this returns, so changes made afterwards are seen.
    public static func subscribe(
        _ namespace: NetworkNamespace = .current, bufferSize: Int = defaultBufferSize
    ) async throws(NetlinkError) -> AsyncStream<RouteEvent> {
        let (stream, continuation) = AsyncStream<RouteEvent>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, bufferSize)))
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        // The listener thread reports once it has joined the groups (or failed to).
        let ready: Result<Void, NetlinkError> = await withCheckedContinuation { started in
            let thread = Thread {
                let listener: Listener
                do throws(NetlinkError) {
                    listener = try Listener(namespace: namespace, sink: EventSink(continuation))
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

/// Hands events to the stream. When the stream's buffer is full, the event is dropped and a
/// `.resync` is owed; it goes out before any later event, as soon as there is room.
struct EventSink {
    let continuation: AsyncStream<RouteEvent>.Continuation
    private(set) var resyncOwed = false

    init(_ continuation: AsyncStream<RouteEvent>.Continuation) { self.continuation = continuation }

    mutating func send(_ event: RouteEvent) {
        guard flush() else { return }
        if case .dropped = continuation.yield(event) { resyncOwed = true }
    }

    /// Events were lost before they reached us (the socket overflowed).
    mutating func lost() {
        resyncOwed = true
        _ = flush()
    }

    /// Tries to deliver an owed `.resync`; true when nothing is owed any more.
    @discardableResult
    mutating func flush() -> Bool {
        guard resyncOwed else { return true }
        if case .enqueued = continuation.yield(.resync) { resyncOwed = false }
        return !resyncOwed
    }
}

/// Lives on the subscription's own thread.
private final class Listener {
    let fd: Int32
    let lookup: RouteSocket
    var sink: EventSink
    var names: [Int32: String] = [:]

    private static let groups: [UInt32] = [
        RTNLGRP_LINK.rawValue, RTNLGRP_IPV4_IFADDR.rawValue, RTNLGRP_IPV6_IFADDR.rawValue,
        RTNLGRP_NEIGH.rawValue,
    ]

    init(namespace: NetworkNamespace, sink: EventSink) throws(NetlinkError) {
        self.sink = sink
        lookup = try RouteSocket(namespace: namespace)
        fd = try Socket.openNetlink(NETLINK_ROUTE, in: namespace)
        for group in Listener.groups
        where !Socket.setIntOption(fd, Socket.solNetlink, Socket.addMembership, Int32(group)) {
            let error = NetlinkError.lastErrno("join rtnetlink group \(group)")
            close(fd)
            throw error
        }
        refreshNames()
    }

    deinit { close(fd) }

    /// After lost events the cached names may be stale: read them again.
    private func refreshNames() {
        names = Dictionary(
            ((try? lookup.links()) ?? []).map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first }
        )
    }

    func run(until stop: StopFlag) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let space = ReceiveSpace.current
        space.reserve(8 * Dump.segment)
        while !stop.isSet {
            sink.flush()
            if poll(&poller, 1, 200) <= 0 { continue }
            let received = Datagrams.receive(fd, into: &space.bytes, segment: Dump.segment)
            if received.error == ENOBUFS || received.truncated {
                sink.lost()
                refreshNames()
                continue
            }
            if received.error != 0 { continue }
            Pipeline.forEachMessage(space.bytes, segments: received.segments) { type, _, _, payload in
                handle(type: type, payload: Array(payload))
            }
        }
    }

    private func name(of index: Int32) -> String? {
        if let known = names[index] { return known }
        let name = (try? lookup.link(index: index))??.name
        names[index] = name
        return name
    }

    private func handle(type: UInt16, payload: [UInt8]) {
        switch type {
        case RtnetlinkParsing.newLink, RtnetlinkParsing.deleteLink:
            guard var link = RtnetlinkParsing.link(payload) else { return }
            let removed = type == RtnetlinkParsing.deleteLink
            names[link.index] = removed ? nil : link.name
            link.master = link.masterIndex.flatMap { names[$0] }
            sink.send(.link(link, removed: removed))
        case RtnetlinkParsing.newAddress, RtnetlinkParsing.deleteAddress:
            guard let entry = RtnetlinkParsing.address(payload), let device = name(of: entry.index) else {
                return
            }
            let address = Address(device: device, address: entry.address, prefixLength: entry.prefixLength)
            sink.send(.address(address, removed: type == RtnetlinkParsing.deleteAddress))
        case NeighbourMessages.newType, NeighbourMessages.deleteType:
            guard let entry = NeighbourMessages.parse(payload), let device = name(of: entry.index) else {
                return
            }
            let removed = type == NeighbourMessages.deleteType
            if entry.family == AF_BRIDGE {
                if let fdb = entry.fdb(device: device) { sink.send(.fdb(fdb, removed: removed)) }
            } else if let neighbour = entry.neighbour(device: device) {
                sink.send(.neighbour(neighbour, removed: removed))
            }
        default:
            return
        }
    }
}
