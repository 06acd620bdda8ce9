import Foundation
import Glibc
import Testing

@testable import Netlink

/// Issue #8's reply-reading bugs, each against a fake kernel (a datagram socket pair) or the real
/// kernel in the current namespace; no root.
@Suite struct ReplyReadingTests {
    typealias FakeKernel = DumpAndBatchTests.FakeKernel
    private let echo = FakeKernel.echo
    private let data: UInt16 = 0x30

    private var request: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 20)
        Pipeline.store32(20, in: &bytes, at: 0)
        return bytes
    }

    private func errnoBytes(_ code: Int32) -> [UInt8] { withUnsafeBytes(of: code.littleEndian) { Array($0) } }

    // Bug 1: NLMSG_DONE carrying -EMSGSIZE is the kernel failing the dump, not its end.
    @Test func doneWithANegativeErrnoIsAnErrorNotAShorterTable() throws {
        let kernel = try FakeKernel()
        _ = kernel.script([[[(data, 0, 5, [1]), (Pipeline.doneType, 0, 5, errnoBytes(-EMSGSIZE))]]])
        var buffer: [UInt8] = []
        #expect {
            _ = try Dump(fd: kernel.near).run(request, sequence: 5, operation: "dump", buffer: &buffer)
        } throws: { error in
            (error as? NetlinkError)?.code == .errno(EMSGSIZE)
        }
    }

    // Bug 3: a dump datagram larger than the old fixed 128 KiB slice is read whole.
    @Test func datagramLargerThanTheFirstSliceIsReadWhole() throws {
        let kernel = try FakeKernel()
        // 150 messages of 1,000 bytes in one datagram (about 150 KB), then DONE.
        let big: [FakeKernel.Message] = (0..<150).map {
            (data, 0, 6, [UInt8](repeating: UInt8($0 % 256), count: 984))
        }
        _ = kernel.script([[big, [(Pipeline.doneType, 0, 6, errnoBytes(0))]]])
        var buffer: [UInt8] = []
        let messages = try Dump(fd: kernel.near).run(request, sequence: 6, operation: "dump", buffer: &buffer)
        #expect(messages.count == 150)
        #expect(messages.last?.payload.first == 149)
    }

    // Bug 4: a failed receive reports its own errno (captured in C), here the receive timeout.
    @Test func receiveFailureCarriesItsErrno() throws {
        let kernel = try FakeKernel()
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(kernel.near, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer: [UInt8] = []
        #expect {
            _ = try Dump(fd: kernel.near).run(request, sequence: 8, operation: "dump", buffer: &buffer)
        } throws: { error in
            (error as? NetlinkError)?.code == .errno(EAGAIN)
        }
    }

    /// An ndmsg (AF_BRIDGE, permanent, NTF_SELF) on ifindex `index` with a MAC.
    private func fdbPayload(index: UInt32) -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: 12)
        payload[0] = UInt8(AF_BRIDGE)
        Pipeline.store32(index, in: &payload, at: 4)
        Pipeline.store(0x80, in: &payload, at: 8)
        payload[10] = 0x02
        return payload + [10, 0, 2, 0, 2, 0x42, 0, 0, 0, 1, 0, 0]  // NDA_LLADDR, padded
    }

    /// An ifinfomsg for `index` named `name`.
    private func linkPayload(index: UInt32, name: String) -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: 16)
        Pipeline.store32(index, in: &payload, at: 4)
        let text = Array(name.utf8) + [0]
        var attribute = [UInt8(4 + text.count), 0, 3, 0] + text  // IFLA_IFNAME
        attribute += [UInt8](repeating: 0, count: (4 - attribute.count % 4) % 4)
        return payload + attribute
    }

    /// A socket over a fake kernel that answers: an FDB dump with one entry on ifindex 7, a link
    /// dump with only lo, then `lookup` for the GETLINK of index 7.
    private func socketWhereDevice7IsMissing(lookup: [FakeKernel.Message]) throws -> (RouteSocket, FakeKernel)
    {
        let kernel = try FakeKernel()
        let done: FakeKernel.Message = (Pipeline.doneType, 0, echo, errnoBytes(0))
        _ = kernel.script([
            [[(NeighbourMessages.newType, 0, echo, fdbPayload(index: 7)), done]],
            [[(RtnetlinkParsing.newLink, 0, echo, linkPayload(index: 1, name: "lo")), done]],
            [lookup],
        ])
        return (RouteSocket(descriptor: dup(kernel.near)), kernel)
    }

    // Bug 2: an entry whose device is neither in the link dump nor found by index afterwards
    // (the table changed under the dump) is reported, never dropped silently.
    @Test func entryOfAVanishedDeviceIsReportedNotDropped() throws {
        let (socket, kernel) = try socketWhereDevice7IsMissing(lookup: [
            (Pipeline.errorType, 0, echo, FakeKernel.ack(-ENODEV))
        ])
        #expect {
            _ = try socket.fdbEntries()
        } throws: { error in
            (error as? NetlinkError)?.isDumpInterrupted == true
        }
        withExtendedLifetime(kernel) {}
    }

    // Bug 2, the other half: a device made after the link dump is looked up, and its entry kept.
    @Test func entryOfADeviceMadeAfterTheLinkDumpIsKept() throws {
        let (socket, kernel) = try socketWhereDevice7IsMissing(lookup: [
            (RtnetlinkParsing.newLink, 0, echo, linkPayload(index: 7, name: "vx9")),
            (Pipeline.errorType, 0, echo, FakeKernel.ack(0)),
        ])
        #expect(try socket.fdbEntries().map(\.device) == ["vx9"])
        withExtendedLifetime(kernel) {}
    }

    // Bug 6: replies left queued by an aborted exchange do not break the next call.
    @Test func staleRepliesQueuedOnTheSocketAreSkipped() throws {
        let socket = try RouteSocket()
        // A request whose answer nobody reads: its reply (and ACK) stay queued.
        var stale = try RtnetlinkParsing.getLinkRequest(index: 1, name: nil)
        Pipeline.store(Pipeline.requestFlag | Pipeline.ackFlag, in: &stale, at: 6)
        Pipeline.store32(0x0bad_0001, in: &stale, at: 8)
        #expect(Socket.send(socket.fd, stale, operation: "stale") == nil)
        #expect(try socket.link(named: "lo")?.index == 1)
        #expect(try socket.links().contains { $0.name == "lo" })
    }

    // Bug 5: no process-wide table of 1,024 local ports: 2,000 sockets open at once.
    @Test func twoThousandSocketsOpenAtOnce() throws {
        var sockets: [RouteSocket] = []
        for _ in 0..<2000 { sockets.append(try RouteSocket()) }
        #expect(Set(sockets.map(\.fd)).count == 2000)
        #expect(try sockets[1999].link(named: "lo") != nil)
    }

    // Bug 9: every netlink socket is close-on-exec, so children do not inherit it.
    @Test func socketsAreCloseOnExec() throws {
        let route = try RouteSocket()
        #expect(fcntl(route.fd, F_GETFD) & FD_CLOEXEC != 0)
        let generic = try Socket.openNetlink(16, in: .current)  // NETLINK_GENERIC
        defer { close(generic) }
        #expect(fcntl(generic, F_GETFD) & FD_CLOEXEC != 0)
    }
}

/// Bug 10: a consumer that falls behind loses events; it must learn so, as `.resync`.
@Suite struct EventSinkTests {
    @Test func overflowReachesTheConsumerAsResync() async throws {
        let (stream, continuation) = AsyncStream<RouteEvent>.makeStream(bufferingPolicy: .bufferingOldest(3))
        var sink = EventSink(continuation)
        let lo = Link(
            index: 1, name: "lo", kind: nil, mtu: 65536, mac: nil, isUp: true, masterIndex: nil, master: nil,
            vxlan: nil)
        for i in 0..<5 {
            var link = lo
            link.index = Int32(i)
            sink.send(.link(link, removed: false))
        }
        #expect(sink.resyncOwed)
        var iterator = stream.makeAsyncIterator()
        for i in 0..<3 {
            guard case .link(let link, _) = await iterator.next() else {
                Issue.record("expected a link")
                return
            }
            #expect(link.index == Int32(i))
        }
        // Room again: the owed resync goes out before anything newer.
        var later = lo
        later.index = 9
        sink.send(.link(later, removed: false))
        #expect(await iterator.next() == .resync)
        #expect(await iterator.next() == .link(later, removed: false))
        #expect(!sink.resyncOwed)
        // Losses before the events reached us (ENOBUFS) are reported the same way.
        sink.lost()
        #expect(await iterator.next() == .resync)
        continuation.finish()
    }
}

/// Bug 11: a thread that cannot return to its namespace retires; the process and the queue live on.
@Suite struct WorkerRetirementTests {
    @Test func failedReturnRetiresTheThreadAndTheQueueMovesOn() async throws {
        let worker = WorkerThread(name: "shoal-test-retire")
        let before = try await worker.run { () throws(NetlinkError) in UInt(pthread_self()) }
        do {
            try await worker.run { () throws(NetlinkError) in
                try NetworkNamespace.returnToOriginal(-1, from: .path("/nowhere")) { _ in
                    errno = EPERM
                    return -1
                }
            }
            Issue.record("a failed return did not fail")
        } catch {
            #expect(error.code == .errno(EPERM))
            #expect(error.detail?.contains("retired") == true)
        }
        let after = try await worker.run { () throws(NetlinkError) in UInt(pthread_self()) }
        #expect(after != before)
        #expect(worker.threadsStarted == 2)
    }
}
