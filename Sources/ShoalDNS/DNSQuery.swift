import NIOCore

/// The parts of a query the server needs, read without building a whole `DNSMessage`.
public struct DNSQuery: Sendable {
    public var id: UInt16
    public var flags: UInt16
    /// The question's name, lowercased and dotted (the table and cache key).
    public var key: String
    public var type: DNSType
    public var qclass: UInt16
    /// Where the question section ends (it is copied into answers as it came, case and all).
    public var questionEnd: Int
    /// Whether the client sent an OPT record; answers then carry one too.
    public var hasEDNS: Bool
    /// The largest UDP answer the client takes: 512 without EDNS, else its size capped at 1232.
    public var udpLimit: Int

    /// What to do with a datagram or TCP frame that is not a plain query.
    public enum Rejection: Error, Equatable, Sendable {
        /// No answer at all: too short to carry an id, or a response (answering those could loop).
        case drop
        /// Answer with this code, echoing the id (FORMERR for bad syntax, NOTIMP for other opcodes).
        case reply(id: UInt16, flags: UInt16, rcode: DNSRCode)
    }

    /// Reads a query. Malformed input gives a rejection and never traps.
    public static func parse(_ buffer: ByteBuffer) -> Result<DNSQuery, Rejection> {
        buffer.withUnsafeReadableBytes { raw in parse(raw: raw) }
    }

    static func parse(raw: UnsafeRawBufferPointer) -> Result<DNSQuery, Rejection> {
        var reader = WireReader(raw)
        guard let header = try? reader.header() else { return .failure(.drop) }
        if header.isResponse { return .failure(.drop) }
        let formErr = Rejection.reply(id: header.id, flags: header.flags, rcode: .formErr)
        if header.opcode != 0 { return .failure(.reply(id: header.id, flags: header.flags, rcode: .notImp)) }
        guard header.questionCount == 1 else { return .failure(formErr) }
        do {
            let key = try reader.nameKey(allowPointers: false)
            let type = DNSType(rawValue: try reader.u16())
            let qclass = try reader.u16()
            let questionEnd = reader.offset
            for _ in 0..<(Int(header.answerCount) + Int(header.authorityCount)) { try reader.skipRecord() }
            var udpSize: UInt16?
            for _ in 0..<header.additionalCount {
                try reader.walkName { _ in }
                let recordType = DNSType(rawValue: try reader.u16())
                let rclass = try reader.u16()
                try reader.skip(4)
                try reader.skip(Int(try reader.u16()))
                if recordType == .opt {
                    guard udpSize == nil else { return .failure(formErr) }
                    udpSize = rclass
                }
            }
            let limit = udpSize.map { min(max(Int($0), DNSLimits.classicUDPSize), DNSLimits.maxUDPSize) }
            return .success(
                DNSQuery(
                    id: header.id, flags: header.flags, key: key, type: type, qclass: qclass,
                    questionEnd: questionEnd, hasEDNS: udpSize != nil,
                    udpLimit: limit ?? DNSLimits.classicUDPSize))
        } catch {
            return .failure(formErr)
        }
    }
}

extension WireReader {
    mutating func skipRecord() throws(DNSError) {
        try walkName { _ in }
        try skip(8)
        try skip(Int(try u16()))
    }
}
