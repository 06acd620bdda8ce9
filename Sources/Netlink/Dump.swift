import CNetlinkRoute
import Glibc

/// Reads a netlink dump to its end, or reports why it could not.
///
/// A dump that the kernel marks NLM_F_DUMP_INTR (the table changed while it was read; the kernel
/// sets it for links and addresses only), that lost messages (ENOBUFS) or that had a
/// datagram too big for the buffer is read again from the start; after `attempts` tries it is
/// reported. An NLMSG_DONE carrying a negative errno (the kernel failing the dump, e.g.
/// -EMSGSIZE) is that error, never a shorter table.
struct Dump {
    struct Message {
        let type: UInt16
        let payload: [UInt8]
    }

    /// The first slice size; a larger datagram (min_dump_alloc raised) is measured with
    /// MSG_PEEK|MSG_TRUNC and the slices grow to it.
    static let segment = 32 * 1024
    /// Slices per receive call.
    static let slots = 8

    let fd: Int32
    var attempts = 5

    /// `request` is a complete message; its flags get NLM_F_REQUEST|NLM_F_DUMP and `sequence`.
    /// `buffer` is receive space reused across dumps (the calling thread's ReceiveSpace).
    func run(
        _ request: [UInt8], sequence: UInt32, operation: @autoclosure () -> String, buffer: inout [UInt8]
    ) throws(NetlinkError) -> [Message] {
        var request = request
        Pipeline.store(
            Pipeline.load16(request, 6) | Pipeline.requestFlag | Pipeline.dumpFlag, in: &request, at: 6)
        Pipeline.store32(sequence, in: &request, at: 8)
        var lastError: NetlinkError?
        var segment = Dump.segment
        for _ in 0..<attempts {
            if let error = Socket.send(fd, request, operation: operation()) { throw error }
            var messages: [Message] = []
            var interrupted = false
            var done = false
            var failure: NetlinkError?
            while !done {
                let next = Datagrams.peekLength(fd)
                if next > segment { segment = (next + 4095) & ~4095 }
                if buffer.count < Dump.slots * segment {
                    buffer = [UInt8](repeating: 0, count: Dump.slots * segment)
                }
                let received =
                    next < 0
                    ? Datagrams.Received(error: Int32(-next))
                    : Datagrams.receive(fd, into: &buffer, segment: segment)
                if received.error == EINTR { continue }
                if received.error == ENOBUFS {
                    // Messages were dropped: finish reading this dump, then start over.
                    interrupted = true
                    lastError = .errno(ENOBUFS, operation(), detail: "the socket overflowed")
                    continue
                }
                if received.error != 0 { throw .errno(received.error, operation()) }
                if received.truncated {
                    interrupted = true
                    lastError = .errno(EMSGSIZE, operation(), detail: "a reply was larger than the buffer")
                    segment *= 2
                }
                Pipeline.forEachMessage(buffer, segments: received.segments) { type, flags, seq, payload in
                    guard seq == sequence, !done else { return }
                    if flags & Pipeline.dumpInterruptedFlag != 0 { interrupted = true }
                    switch type {
                    case Pipeline.doneType:
                        let (code, detail) = Pipeline.parseDone(payload, flags: flags)
                        if code < 0 { failure = .errno(-code, operation(), detail: detail) }
                        done = true
                    case Pipeline.errorType:
                        let (code, detail) = Pipeline.parseError(payload, flags: flags)
                        if code != 0 { failure = .errno(-code, operation(), detail: detail) }
                        done = true
                    default:
                        messages.append(Message(type: type, payload: Array(payload)))
                    }
                }
            }
            if let failure { throw failure }
            if !interrupted { return messages }
        }
        throw lastError ?? .dumpInterrupted(operation())
    }
}

/// Attributes by type (the last one wins), in a flat array: types are small numbers.
struct AttributeTable {
    // Sized once for the common case: growing slot by slot cost an allocation per attribute.
    private var slots = [ArraySlice<UInt8>?](repeating: nil, count: 32)

    subscript(type: UInt16) -> ArraySlice<UInt8>? {
        get { Int(type) < slots.count ? slots[Int(type)] : nil }
        set {
            if Int(type) >= slots.count {
                slots += [ArraySlice<UInt8>?](repeating: nil, count: Int(type) + 1 - slots.count)
            }
            slots[Int(type)] = newValue
        }
    }
}

/// Reading netlink attributes (struct nlattr: u16 length, u16 type, payload, 4-byte aligned).
enum Attributes {
    /// Attributes of `bytes` from `offset` on, by type; the nested flag is masked off.
    static func parse(_ bytes: [UInt8], from offset: Int = 0) -> AttributeTable {
        parse(bytes[...], from: offset)
    }

    /// The same over a slice (a nested attribute's payload), without copying it.
    static func parse(_ bytes: ArraySlice<UInt8>, from offset: Int = 0) -> AttributeTable {
        var result = AttributeTable()
        var offset = bytes.startIndex + offset
        while offset + 4 <= bytes.endIndex {
            let length = Int(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
            let type = (UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8) & 0x3fff
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            result[type] = bytes[(offset + 4)..<(offset + length)]
            offset += (length + 3) & ~3
        }
        return result
    }

    static func u16(_ value: ArraySlice<UInt8>?) -> UInt16? {
        guard let value, value.count >= 2 else { return nil }
        let start = value.startIndex
        return UInt16(value[start]) | UInt16(value[start + 1]) << 8
    }

    static func u32(_ value: ArraySlice<UInt8>?) -> UInt32? {
        guard let value, value.count >= 4 else { return nil }
        let start = value.startIndex
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(value[start + $1]) << (8 * UInt32($1)) }
    }

    static func u64(_ value: ArraySlice<UInt8>?) -> UInt64? {
        guard let value, value.count >= 8 else { return nil }
        let start = value.startIndex
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(value[start + $1]) << (8 * UInt64($1)) }
    }

    static func string(_ value: ArraySlice<UInt8>?) -> String? {
        guard let value else { return nil }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }
}
