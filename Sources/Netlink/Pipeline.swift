import CNetlinkRoute
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

    init(fd: Int32) {
        self.fd = fd
        let receive = Socket.intOption(fd, SOL_SOCKET, SO_RCVBUF) ?? 212_992
        let send = Socket.intOption(fd, SOL_SOCKET, SO_SNDBUF) ?? 212_992
        // An ACK costs about 1 KiB of receive buffer (skb overhead included).
        maxInFlight = max(16, min(4096, receive / 1024))
        maxChunkBytes = max(4096, min(256 * 1024, send / 2))
    }

    /// Sends `requests` (complete netlink messages) with sequence numbers from `firstSequence`;
    /// returns one result per request: nil for success or the error the kernel answered.
    func run(
        _ requests: [[UInt8]], firstSequence: UInt32, describe: (Int) -> String
    ) -> [NetlinkError?] {
        var results = [NetlinkError?](repeating: nil, count: requests.count)
        // ACKs are small (NETLINK_CAP_ACK): 64 slices of 4 KiB, read in one recvmmsg.
        var receive = [UInt8](repeating: 0, count: 64 * 4096)
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
                let segments = Datagrams.receive(fd, into: &receive, segment: 4096)
                if segments.isEmpty {
                    if errno == EINTR { continue }
                    // Lost ACKs (ENOBUFS) or a broken socket: the outcome of the rest is unknown.
                    let code = errno
                    for index in pending {
                        results[index] = .errno(code, describe(index), detail: "acknowledgement lost")
                    }
                    break
                }
                Pipeline.forEachMessage(receive, segments: segments) { type, flags, sequence, payload in
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
        var offset = 4 + (flags & cappedFlag != 0 ? 16 : ((originalLength + 3) & ~3))
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
        return (code, detail)
    }
}

/// Plain socket calls shared by the rtnetlink and generic netlink sockets.
enum Socket {
    static let solNetlink: Int32 = 270
    static let capAck: Int32 = 10  // NETLINK_CAP_ACK: errors do not echo the whole request
    static let extAck: Int32 = 11  // NETLINK_EXT_ACK: errors carry the kernel's message

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
        while true {
            let sent = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, 0) }
            if sent >= 0 { return nil }
            if errno == EINTR { continue }
            return .lastErrno(operation())
        }
    }
}

/// Receiving several datagrams per system call.
enum Datagrams {
    /// Waits for at least one datagram and takes what else is queued (up to the buffer's slices).
    /// Returns the byte ranges received, empty on error (errno set).
    static func receive(_ fd: Int32, into buffer: inout [UInt8], segment: Int) -> [Range<Int>] {
        let slots = min(64, buffer.count / segment)
        var lengths = [UInt32](repeating: 0, count: slots)
        let received = buffer.withUnsafeMutableBytes { raw in
            shoal_recv_many(
                fd, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), segment, UInt32(slots), &lengths)
        }
        guard received > 0 else { return [] }
        return (0..<Int(received)).map { index in
            (index * segment)..<(index * segment + min(Int(lengths[index]), segment))
        }
    }
}
