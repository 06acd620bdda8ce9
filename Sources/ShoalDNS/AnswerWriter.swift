import NIOCore
import ShoalModel

/// One record of a local answer; its owner is always the question's name.
public enum LocalAnswer: Equatable, Sendable {
    case address(IPv4Address)
    case pointer(DNSName)
    case service(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
}

/// Writes answers straight into a buffer: header, the question copied from the query, records whose
/// owner is a pointer to the question (offset 12), then SOA for NODATA and OPT for EDNS clients.
enum AnswerWriter {
    static let questionPointer: UInt16 = 0xC000 | UInt16(DNSLimits.headerSize)
    static let flagsKept: UInt16 = 0x0100  // RD is copied from the query
    static let authoritySOA = DNSSOA(
        primary: DNSName(labels: [Array("ns".utf8), Array("shoal".utf8)]),
        mailbox: DNSName(labels: [Array("hostmaster".utf8), Array("shoal".utf8)]), serial: 1, refresh: 3600,
        retry: 600, expire: 86400, minimum: LocalTTL.negative)

    /// `limit` is the client's UDP size (nil over TCP); an answer that does not fit is sent with TC and
    /// only its question, so the client retries over TCP.
    static func answer(
        query: DNSQuery, request: ByteBuffer, rcode: DNSRCode, records: [LocalAnswer], ttl: UInt32,
        nodata: Bool, limit: Int?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: query.questionEnd + 16 * records.count + 64)
        var header = DNSHeader(id: query.id, flags: 0x8000 | 0x0400 | 0x0080 | (query.flags & flagsKept))
        header.rcode = rcode.rawValue
        header.questionCount = 1
        header.answerCount = UInt16(records.count)
        header.authorityCount = nodata ? 1 : 0
        header.additionalCount = query.hasEDNS ? 1 : 0
        var writer = WireWriter(buffer: buffer)
        writer.header(header)
        writer.buffer.writeImmutableBuffer(
            request.getSlice(at: request.readerIndex + DNSLimits.headerSize, length: query.questionEnd - 12)
                ?? ByteBuffer())
        for record in records {
            writer.u16(questionPointer)
            switch record {
            case .address(let address):
                writer.u16(DNSType.a.rawValue)
                writer.u16(DNSClass.internet)
                writer.u32(ttl)
                writer.u16(4)
                writer.u32(address.value)
            case .pointer(let target):
                writer.recordAfterOwner(
                    DNSRecord(name: .root, type: .ptr, ttl: ttl, data: .name(target)))
            case .service(let priority, let weight, let port, let target):
                writer.recordAfterOwner(
                    DNSRecord(
                        name: .root, type: .srv, ttl: ttl,
                        data: .srv(priority: priority, weight: weight, port: port, target: target)))
            }
        }
        if nodata {
            writer.u16(questionPointer)
            writer.recordAfterOwner(
                DNSRecord(name: .root, type: .soa, ttl: LocalTTL.negative, data: .soa(authoritySOA)))
        }
        if query.hasEDNS { writer.record(.opt(udpSize: UInt16(DNSLimits.maxUDPSize))) }
        buffer = writer.buffer
        if let limit, buffer.readableBytes > limit {
            return truncated(buffer, questionEnd: query.questionEnd, allocator: allocator)
        }
        return buffer
    }

    /// Header and question only, with TC set and the other sections empty.
    static func truncated(_ message: ByteBuffer, questionEnd: Int, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        var buffer = allocator.buffer(capacity: questionEnd)
        buffer.writeImmutableBuffer(
            message.getSlice(at: message.readerIndex, length: questionEnd) ?? ByteBuffer())
        let flags = buffer.getInteger(at: 2, as: UInt16.self) ?? 0
        buffer.setInteger(flags | 0x0200, at: 2)
        for index in [6, 8, 10] { buffer.setInteger(UInt16(0), at: index) }
        return buffer
    }

    /// A header-only answer (FORMERR, NOTIMP) or an answer with just the question (SERVFAIL, REFUSED).
    static func error(
        id: UInt16, flags: UInt16, rcode: DNSRCode, query: DNSQuery?, request: ByteBuffer,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var header = DNSHeader(id: id, flags: 0x8000 | 0x0080 | (flags & (flagsKept | 0x7800)))
        header.rcode = rcode.rawValue
        var buffer = allocator.buffer(capacity: 64)
        var writer = WireWriter(buffer: buffer)
        if let query {
            header.questionCount = 1
            writer.header(header)
            writer.buffer.writeImmutableBuffer(
                request.getSlice(at: request.readerIndex + 12, length: query.questionEnd - 12) ?? ByteBuffer()
            )
        } else {
            writer.header(header)
        }
        buffer = writer.buffer
        return buffer
    }
}
