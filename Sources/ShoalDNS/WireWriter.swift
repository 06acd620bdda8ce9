import NIOCore

/// Writes DNS wire data into a ByteBuffer, compressing names against suffixes written before
/// (offsets are from the message start, which is the buffer's writer index when the writer is made).
struct WireWriter {
    var buffer: ByteBuffer
    let base: Int
    private var suffixes: [[[UInt8]]: Int] = [:]

    init(buffer: ByteBuffer) {
        self.buffer = buffer
        base = buffer.writerIndex
    }

    var offset: Int { buffer.writerIndex - base }

    mutating func u8(_ value: UInt8) { buffer.writeInteger(value) }
    mutating func u16(_ value: UInt16) { buffer.writeInteger(value) }
    mutating func u32(_ value: UInt32) { buffer.writeInteger(value) }
    mutating func bytes(_ value: [UInt8]) { buffer.writeBytes(value) }

    mutating func header(_ header: DNSHeader) {
        u16(header.id)
        u16(header.flags)
        u16(header.questionCount)
        u16(header.answerCount)
        u16(header.authorityCount)
        u16(header.additionalCount)
    }

    /// Writes `name`, ending in a pointer to an earlier copy of its longest known suffix when
    /// `compress` (RFC 1035 4.1.4); SRV targets must not be compressed (RFC 2782).
    mutating func name(_ name: DNSName, compress: Bool = true) {
        for index in name.labels.indices {
            // Exact labels, not case-folded: a decoded name must come back with the case it was written in.
            let suffix = Array(name.labels[index...])
            if compress, let target = suffixes[suffix] {
                u16(0xC000 | UInt16(target))
                return
            }
            if offset < 0x4000 { suffixes[suffix] = offset }
            u8(UInt8(name.labels[index].count))
            bytes(name.labels[index])
        }
        u8(0)
    }

    mutating func question(_ question: DNSQuestion) {
        name(question.name)
        u16(question.type.rawValue)
        u16(question.qclass)
    }

    mutating func record(_ record: DNSRecord) {
        name(record.name)
        recordAfterOwner(record)
    }

    /// Type, class, TTL and data: for callers that wrote the owner name themselves (as a pointer).
    mutating func recordAfterOwner(_ record: DNSRecord) {
        u16(record.type.rawValue)
        u16(record.rclass)
        u32(record.ttl)
        let lengthIndex = buffer.writerIndex
        u16(0)
        let start = buffer.writerIndex
        switch record.data {
        case .a(let address): u32(address.value)
        case .aaaa(let bytes), .opaque(let bytes): self.bytes(bytes)
        case .name(let target): name(target)
        case .srv(let priority, let weight, let port, let target):
            u16(priority)
            u16(weight)
            u16(port)
            name(target, compress: false)
        case .soa(let soa):
            name(soa.primary)
            name(soa.mailbox)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { u32(value) }
        case .txt(let strings):
            for string in strings {
                u8(UInt8(string.count))
                bytes(string)
            }
        }
        buffer.setInteger(UInt16(buffer.writerIndex - start), at: lengthIndex)
    }
}
