import CNetlinkRoute
import Foundation
import Glibc

/// Sends many netlink requests without waiting for each answer, then collects the ACKs.
///
/// Every request gets NLM_F_ACK and its own sequence number; requests go out in chunks (several
/// messages per sendmsg, which the kernel processes in order), and after each chunk its ACKs are
/// read, so the receive buffer never holds more than one chunk of answers. A failing request is
/// reported at its own index; the kernel goes on with the rest.
struct Pipeline {
    static let requestFlag: UInt16 = 0x1  // NLM_F_REQUEST
    static let ackFlag: UInt16 = 0x4  // NLM_F_ACK
    static let dumpFlag: UInt16 = 0x300  // NLM_F_DUMP
    static let dumpInterruptedFlag: UInt16 = 0x10  // NLM_F_DUMP_INTR
    static let errorType: UInt16 = 2  // NLMSG_ERROR
    static let doneType: UInt16 = 3  // NLMSG_DONE
    static let ackTLVsFlag: UInt16 = 0x200  // NLM_F_ACK_TLVS
    static let cappedFlag: UInt16 = 0x100  // NLM_F_CAPPED

    let fd: Int32
    /// Most messages in flight: bounded so that their ACKs fit the receive buffer.
    let maxInFlight: Int
    /// Most bytes per sendmsg: bounded by the send buffer.
    let maxChunkBytes: Int

    /// `pipelining: false` sends one request and waits for its ACK before the next (the
    /// benchmark's control run).
    init(fd: Int32, pipelining: Bool = true) {
        self.fd = fd
        let receive = Socket.intOption(fd, SOL_SOCKET, SO_RCVBUF) ?? 212_992
        let send = Socket.intOption(fd, SOL_SOCKET, SO_SNDBUF) ?? 212_992
        // An ACK costs about 1 KiB of receive buffer (skb overhead included).
        maxInFlight = pipelining ? max(16, min(4096, receive / 1024)) : 1
        maxChunkBytes = max(4096, min(256 * 1024, send / 2))
    }

    /// Sends `requests` (complete netlink messages) with sequence numbers from `firstSequence`;
    /// returns one result per request: nil for success or the error the kernel answered.
    func run(
        _ requests: [[UInt8]], firstSequence: UInt32, describe: (Int) -> String
    ) -> [NetlinkError?] {
        var results = [NetlinkError?](repeating: nil, count: requests.count)
        // ACKs are small (NETLINK_CAP_ACK): many 8 KiB slices, read in one recvmmsg, in the
        // calling thread's receive space (shared by every socket that thread serves).
        let space = ReceiveSpace.current
        space.reserve(64 * Pipeline.ackSegment)
        var start = 0
        while start < requests.count {
            var chunk: [UInt8] = []
            chunk.reserveCapacity(maxChunkBytes)
            var end = start
            while end < requests.count && end - start < maxInFlight
                && (end == start || chunk.count + requests[end].count <= maxChunkBytes)
            {
                var message = requests[end]
                let sequence = firstSequence &+ UInt32(end)
                // libnl's build_*_request leaves NLM_F_REQUEST to its send path; the kernel ignores
                // (and still ACKs) a message without it.
                let flags = Pipeline.load16(message, 6) | Pipeline.ackFlag | Pipeline.requestFlag
                Pipeline.store(flags, in: &message, at: 6)
                Pipeline.store32(sequence, in: &message, at: 8)
                chunk.append(contentsOf: message)
                end += 1
            }
            if let error = Socket.send(fd, chunk, operation: describe(start)) {
                for index in start..<end { results[index] = error }
                start = end
                continue
            }
            var pending = Set(start..<end)
            while !pending.isEmpty {
                let received = Datagrams.receive(fd, into: &space.bytes, segment: Pipeline.ackSegment)
                if received.error == EINTR { continue }
                if received.error != 0 || received.truncated {
                    // Lost ACKs (ENOBUFS), an ACK too big to read, or a broken socket: the outcome
                    // of the rest is unknown. Their late ACKs are skipped by sequence later.
                    let code = received.error != 0 ? received.error : EMSGSIZE
                    for index in pending {
                        results[index] = .errno(code, describe(index), detail: "acknowledgement lost")
                    }
                    break
                }
                Pipeline.forEachMessage(space.bytes, segments: received.segments) {
                    type, flags, sequence, payload in
                    guard type == Pipeline.errorType else { return }
                    let index = Int(sequence &- firstSequence)
                    guard pending.remove(index) != nil else { return }
                    let (code, detail) = Pipeline.parseError(payload, flags: flags)
                    if code != 0 { results[index] = .errno(-code, describe(index), detail: detail) }
                }
            }
            start = end
        }
        return results
    }

    static let ackSegment = 8192

    // MARK: Message walking

    static func load16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func store(_ value: UInt16, in bytes: inout [UInt8], at offset: Int) {
        bytes[offset] = UInt8(value & 0xff)
        bytes[offset + 1] = UInt8(value >> 8)
    }

    static func store32(_ value: UInt32, in bytes: inout [UInt8], at offset: Int) {
        for shift in 0..<4 { bytes[offset + shift] = UInt8((value >> (8 * UInt32(shift))) & 0xff) }
    }

    /// Calls `body` for every message of every received datagram, in order.
    static func forEachMessage(
        _ buffer: [UInt8], segments: [Range<Int>],
        _ body: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void
    ) {
        for segment in segments {
            forEachMessage(buffer, range: segment, body)
        }
    }

    static func forEachMessage(
        _ buffer: [UInt8], count: Int,
        _ body: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void
    ) {
        forEachMessage(buffer, range: 0..<count, body)
    }

    /// Calls `body(type, flags, sequence, payload)` for every message in `range` of `buffer`.
    static func forEachMessage(
        _ buffer: [UInt8], range: Range<Int>,
        _ body: (UInt16, UInt16, UInt32, UnsafeRawBufferPointer) -> Void
    ) {
        buffer.withUnsafeBytes { raw in
            var offset = range.lowerBound
            let count = range.upperBound
            while offset + 16 <= count {
                let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                guard length >= 16, offset + length <= count else { return }
                let type = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
                let flags = raw.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self)
                let sequence = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                body(
                    type, flags, sequence,
                    UnsafeRawBufferPointer(rebasing: raw[(offset + 16)..<(offset + length)]))
                offset += (length + 3) & ~3
            }
        }
    }

    /// The (negative) error code of an NLMSG_ERROR payload and the extended-ack text, if any.
    static func parseError(_ payload: UnsafeRawBufferPointer, flags: UInt16) -> (Int32, String?) {
        guard payload.count >= 4 else { return (-EPROTO, nil) }
        let code = payload.loadUnaligned(as: Int32.self)
        guard flags & ackTLVsFlag != 0, payload.count >= 20 else { return (code, nil) }
        let originalLength = Int(payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return (
            code,
            extAckMessage(payload, from: 4 + (flags & cappedFlag != 0 ? 16 : ((originalLength + 3) & ~3)))
        )
    }

    /// The code an NLMSG_DONE carries (0, or a negative errno when the dump failed) and the
    /// extended-ack text that may follow it.
    static func parseDone(_ payload: UnsafeRawBufferPointer, flags: UInt16) -> (Int32, String?) {
        guard payload.count >= 4 else { return (0, nil) }
        let code = payload.loadUnaligned(as: Int32.self)
        return (code, flags & ackTLVsFlag != 0 ? extAckMessage(payload, from: 4) : nil)
    }

    /// NLMSGERR_ATTR_MSG among the TLVs from `offset` on.
    private static func extAckMessage(_ payload: UnsafeRawBufferPointer, from start: Int) -> String? {
        var offset = start
        var detail: String?
        while offset + 4 <= payload.count {
            let length = Int(payload.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let type = payload.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff
            guard length >= 4, offset + length <= payload.count else { break }
            if type == 1 {  // NLMSGERR_ATTR_MSG
                let text = payload[(offset + 4)..<(offset + length)].prefix { $0 != 0 }
                detail = String(decoding: text, as: UTF8.self)
            }
            offset += (length + 3) & ~3
        }
        return detail
    }
}

/// Plain socket calls shared by the rtnetlink and generic netlink sockets.
enum Socket {
    static let solNetlink: Int32 = 270
    static let capAck: Int32 = 10  // NETLINK_CAP_ACK: errors do not echo the whole request
    static let extAck: Int32 = 11  // NETLINK_EXT_ACK: errors carry the kernel's message
    static let addMembership: Int32 = 1  // NETLINK_ADD_MEMBERSHIP

    static func intOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &value, &length) == 0 else { return nil }
        return Int(value)
    }

    static func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// A netlink socket made inside `namespace`: close-on-exec (children such as `nft` or a task
    /// must not inherit it and keep the namespace alive), bound with a kernel-assigned port, tuned.
    static func openNetlink(_ proto: Int32, in namespace: NetworkNamespace) throws(NetlinkError) -> Int32 {
        let fd = try namespace.withEntered { () throws(NetlinkError) -> Int32 in
            let fd = shoal_netlink_open(proto)
            guard fd >= 0 else {
                throw .errno(-fd, "open netlink socket (protocol \(proto)) in \(namespace)")
            }
            return fd
        }
        tune(fd)
        return fd
    }

    /// Large buffers for big dumps and batches. The FORCE variants pass rmem_max/wmem_max as root.
    static func tune(_ fd: Int32, bytes: Int32 = 8 << 20) {
        if !setIntOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes) {
            _ = setIntOption(fd, SOL_SOCKET, SO_RCVBUF, bytes)
        }
        if !setIntOption(fd, SOL_SOCKET, SO_SNDBUFFORCE, bytes) {
            _ = setIntOption(fd, SOL_SOCKET, SO_SNDBUF, bytes)
        }
        _ = setIntOption(fd, solNetlink, capAck, 1)
        _ = setIntOption(fd, solNetlink, extAck, 1)
        // The kernel answers synchronously; a reply that never comes becomes an error (EAGAIN)
        // after 30 s instead of a hung owner thread.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one datagram to the kernel (an unconnected netlink socket's default peer is the
    /// kernel, port 0); returns the error, if any.
    static func send(_ fd: Int32, _ bytes: [UInt8], operation: @autoclosure () -> String) -> NetlinkError? {
        let sent = bytes.withUnsafeBytes { raw in shoal_send(fd, raw.baseAddress, raw.count) }
        return sent < 0 ? .errno(Int32(-sent), operation()) : nil
    }
}

/// Receiving several datagrams per system call.
enum Datagrams {
    /// What one receive call got: byte ranges of the datagrams the kernel sent, in order.
    struct Received {
        var segments: [Range<Int>] = []
        /// A datagram did not fit its slice (MSG_TRUNC): its data is lost.
        var truncated = false
        /// errno of a failed call (captured in C), 0 on success.
        var error: Int32 = 0
    }

    /// Waits for at least one datagram and takes what else is queued (up to the buffer's slices).
    /// Datagrams from anyone but the kernel (nl_pid != 0) are dropped.
    static func receive(_ fd: Int32, into buffer: inout [UInt8], segment: Int) -> Received {
        let slots = max(1, min(64, buffer.count / segment))
        var lengths = [UInt32](repeating: 0, count: slots)
        var truncated = [Int32](repeating: 0, count: slots)
        var foreign = [Int32](repeating: 0, count: slots)
        let received = buffer.withUnsafeMutableBytes { raw in
            shoal_recv_many(
                fd, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), segment, UInt32(slots), &lengths,
                &truncated, &foreign)
        }
        var result = Received()
        guard received > 0 else {
            result.error = received < 0 ? -received : EPROTO
            return result
        }
        for index in 0..<Int(received) where foreign[index] == 0 {
            if truncated[index] != 0 { result.truncated = true }
            result.segments.append((index * segment)..<(index * segment + min(Int(lengths[index]), segment)))
        }
        return result
    }

    /// The size of the next datagram, waiting for it; negative errno on failure.
    static func peekLength(_ fd: Int32) -> Int {
        Int(shoal_peek_length(fd))
    }
}

/// The receive buffer of the calling thread, shared by every socket that thread serves (all
/// socket work runs on WorkerPool's few threads), so memory does not grow with the clients.
final class ReceiveSpace {
    var bytes: [UInt8] = []

    private static let key = "shoal.receive-space"

    static var current: ReceiveSpace {
        let dictionary = Thread.current.threadDictionary
        if let space = dictionary[key] as? ReceiveSpace { return space }
        let space = ReceiveSpace()
        dictionary[key] = space
        return space
    }

    /// Grows the buffer to at least `count` bytes (never shrinks: it is reused).
    func reserve(_ count: Int) {
        if bytes.count < count { bytes = [UInt8](repeating: 0, count: count) }
    }
}
