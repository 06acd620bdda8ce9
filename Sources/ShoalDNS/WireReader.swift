import NIOCore

/// Reads DNS wire data from memory the caller keeps alive for the reader's whole use.
/// Every read checks bounds and throws `DNSError` instead of trapping.
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(DNSError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw .truncated(at: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32() throws(DNSError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw .truncated(at: offset) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    mutating func bytes(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw .truncated(at: offset) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func skip(_ count: Int) throws(DNSError) {
        guard count >= 0, offset + count <= bytes.count else { throw .truncated(at: offset) }
        offset += count
    }

    mutating func header() throws(DNSError) -> DNSHeader {
        var header = DNSHeader(id: try u16(), flags: try u16())
        header.questionCount = try u16()
        header.answerCount = try u16()
        header.authorityCount = try u16()
        header.additionalCount = try u16()
        return header
    }

    /// Walks a possibly compressed name, calling `visit` with each label's bytes, and leaves `offset`
    /// after the name's bytes in place. Pointers must point strictly below every earlier jump and the
    /// name's own start, so a walk always ends; the expanded name must fit in 255 bytes.
    /// With `allowPointers` false a compression pointer is an error (a query's question is copied
    /// into the answer as it came, where a pointer would point at different bytes).
    mutating func walkName(
        allowPointers: Bool = true, _ visit: (UnsafeRawBufferPointer.SubSequence) -> Void
    ) throws(DNSError) {
        let start = offset
        var position = offset
        var pointerLimit = offset
        var jumped = false
        var wireLength = 1
        while true {
            guard position < bytes.count else { throw .truncated(at: position) }
            let length = Int(bytes[position])
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return
                }
                guard position + 1 + length <= bytes.count else { throw .truncated(at: position) }
                wireLength += length + 1
                guard wireLength <= 255 else { throw .nameTooLong(at: start) }
                visit(bytes[position + 1..<position + 1 + length])
                position += 1 + length
            case 0xC0:
                guard allowPointers else { throw .badPointer(at: position) }
                guard position + 1 < bytes.count else { throw .truncated(at: position) }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < pointerLimit else { throw .badPointer(at: position) }
                if !jumped {
                    offset = position + 2
                    jumped = true
                }
                pointerLimit = target
                position = target
            default:
                throw .badLabelType(at: position)
            }
        }
    }

    mutating func name() throws(DNSError) -> DNSName {
        var labels: [[UInt8]] = []
        try walkName { labels.append(Array($0)) }
        return DNSName(labels: labels)
    }

    /// The name as its lookup key (lowercased, dotted) without building the label arrays.
    mutating func nameKey(allowPointers: Bool = true) throws(DNSError) -> String {
        var key: [UInt8] = []
        key.reserveCapacity(64)
        try walkName(allowPointers: allowPointers) { label in
            if !key.isEmpty { key.append(UInt8(ascii: ".")) }
            for byte in label { key.append(lowercasedASCII(byte)) }
        }
        return String(decoding: key, as: UTF8.self)
    }
}

/// Runs `body` over the bytes with typed errors (the standard `withUnsafe...Bytes` only rethrow `any Error`).
func withWire<T>(_ buffer: ByteBuffer, _ body: (UnsafeRawBufferPointer) throws(DNSError) -> T)
    throws(DNSError) -> T
{
    try buffer.withUnsafeReadableBytes { raw in Result { () throws(DNSError) in try body(raw) } }.get()
}

func withWire<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(DNSError) -> T) throws(DNSError)
    -> T
{
    try bytes.withUnsafeBytes { raw in Result { () throws(DNSError) in try body(raw) } }.get()
}
