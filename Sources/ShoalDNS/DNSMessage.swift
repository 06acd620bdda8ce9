import NIOCore

/// A whole DNS message: the general codec, used for tests, the fuzzer and reading upstream answers.
/// (The server's hot path reads queries with `DNSQuery` and writes answers with `AnswerWriter`.)
public struct DNSMessage: Equatable, Sendable {
    public var header: DNSHeader
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authorities: [DNSRecord]
    public var additionals: [DNSRecord]

    public init(
        header: DNSHeader, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
        authorities: [DNSRecord] = [], additionals: [DNSRecord] = []
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// Reads a message; bytes after the last record are ignored, as resolvers do.
    public init(bytes: ByteBuffer) throws(DNSError) {
        self = try withWire(bytes) { raw throws(DNSError) in try DNSMessage(raw: raw) }
    }

    public init(bytes: [UInt8]) throws(DNSError) {
        self = try withWire(bytes) { raw throws(DNSError) in try DNSMessage(raw: raw) }
    }

    init(raw: UnsafeRawBufferPointer) throws(DNSError) {
        var reader = WireReader(raw)
        header = try reader.header()
        questions = []
        answers = []
        authorities = []
        additionals = []
        for _ in 0..<header.questionCount { questions.append(try reader.question()) }
        for _ in 0..<header.answerCount { answers.append(try reader.record()) }
        for _ in 0..<header.authorityCount { authorities.append(try reader.record()) }
        for _ in 0..<header.additionalCount { additionals.append(try reader.record()) }
    }

    /// The wire form, with the section counts taken from the arrays.
    public func encoded(into buffer: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var writer = WireWriter(buffer: buffer)
        var header = header
        header.questionCount = UInt16(questions.count)
        header.answerCount = UInt16(answers.count)
        header.authorityCount = UInt16(authorities.count)
        header.additionalCount = UInt16(additionals.count)
        writer.header(header)
        for question in questions { writer.question(question) }
        for record in answers + authorities + additionals { writer.record(record) }
        return writer.buffer
    }

    public var bytes: [UInt8] {
        let buffer = encoded()
        return buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
    }

    /// The OPT record's UDP payload size, if the sender used EDNS.
    public var ednsUDPSize: UInt16? { additionals.first { $0.type == .opt }?.rclass }
}
