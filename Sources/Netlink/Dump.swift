import CNetlinkRoute
import Glibc

/// Reads a netlink dump completely, or not at all.
///
/// A dump that the kernel marks NLM_F_DUMP_INTR (the table changed while it was read) or that
/// lost messages (ENOBUFS) is read again from the start; after `attempts` tries it is reported.
struct Dump {
    struct Message {
        let type: UInt16
        let payload: [UInt8]
    }

    /// Dump datagrams are at most 32 KiB (the kernel caps them), so 128 KiB slices never truncate.
    static let segment = 128 * 1024

    let fd: Int32
    var attempts = 5

    /// `request` is a complete message; its flags get NLM_F_REQUEST|NLM_F_DUMP and `sequence`.
    /// `buffer` is the owner's receive buffer, reused across dumps (zeroing a fresh megabyte per
    /// dump dominated reading thousands of small dumps).
    func run(
        _ request: [UInt8], sequence: UInt32, operation: @autoclosure () -> String, buffer: inout [UInt8]
    ) throws(NetlinkError) -> [Message] {
        var request = request
        Pipeline.store(
            Pipeline.load16(request, 6) | Pipeline.requestFlag | Pipeline.dumpFlag, in: &request, at: 6)
        Pipeline.store32(sequence, in: &request, at: 8)
        var lastError: NetlinkError?
        if buffer.count < 8 * Dump.segment { buffer = [UInt8](repeating: 0, count: 8 * Dump.segment) }
        for _ in 0..<attempts {
            if let error = Socket.send(fd, request, operation: operation()) { throw error }
            var messages: [Message] = []
            var interrupted = false
            var done = false
            var failure: NetlinkError?
            while !done {
                let segments = Datagrams.receive(fd, into: &buffer, segment: Dump.segment)
                if segments.isEmpty {
                    if errno == EINTR { continue }
                    if errno == ENOBUFS {
                        // Messages were dropped: finish reading this dump, then start over.
                        interrupted = true
                        lastError = .errno(ENOBUFS, operation())
                        continue
                    }
                    throw .lastErrno(operation())
                }
                Pipeline.forEachMessage(buffer, segments: segments) { type, flags, seq, payload in
                    guard seq == sequence, !done else { return }
                    if flags & Pipeline.dumpInterruptedFlag != 0 { interrupted = true }
                    switch type {
                    case Pipeline.doneType:
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
        throw lastError ?? .libnl(-NLE_DUMP_INTR, operation())
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
