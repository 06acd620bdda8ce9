import NIOCore
import ShoalModel
import Testing

@testable import ShoalDNS

@Suite struct CodecVectorTests {
    @Test func digQueryWithEDNS() throws {
        let message = try DNSMessage(bytes: try corpusPacket("query-a"))
        #expect(message.header.recursionDesired && !message.header.isResponse)
        #expect(message.questions == [DNSQuestion(name: try DNSName("www.test"), type: .a)])
        #expect(message.ednsUDPSize == 1232)
    }

    @Test func unboundAnswers() throws {
        let a = try DNSMessage(bytes: try corpusPacket("unbound-a"))
        #expect(a.header.isResponse && a.header.rcode == 0)
        #expect(Set(a.answers.map(\.data)) == [.a(try ip("192.0.2.1")), .a(try ip("192.0.2.2"))])
        #expect(a.answers.allSatisfy { $0.ttl == 300 && $0.name.key == "www.test" })

        let aaaa = try DNSMessage(bytes: try corpusPacket("unbound-aaaa"))
        #expect(
            aaaa.answers.map(\.data) == [
                .aaaa([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])
            ])

        let cname = try DNSMessage(bytes: try corpusPacket("unbound-cname"))
        #expect(cname.answers.map(\.data) == [.name(try DNSName("www.test"))])

        let srv = try DNSMessage(bytes: try corpusPacket("unbound-srv"))
        #expect(
            srv.answers.map(\.data) == [
                .srv(priority: 0, weight: 10, port: 80, target: try DNSName("www.test"))
            ])

        let txt = try DNSMessage(bytes: try corpusPacket("unbound-txt"))
        // The capture's unbound.conf escaped the quotes, so unbound split the text at the space and
        // kept the quote characters: three strings.
        let strings = [Array("\"hello".utf8), Array("world\"".utf8), Array("\"second\"".utf8)]
        #expect(txt.answers.map(\.data) == [.txt(strings)])

        let ptr = try DNSMessage(bytes: try corpusPacket("unbound-ptr"))
        #expect(ptr.questions.first?.name.key == "1.2.0.192.in-addr.arpa")
        #expect(ptr.answers.map(\.data) == [.name(try DNSName("www.test"))])
    }

    @Test func negativeAnswersCarryTheSOA() throws {
        let nx = try DNSMessage(bytes: try corpusPacket("unbound-nxdomain"))
        #expect(nx.header.rcode == DNSRCode.nxDomain.rawValue && nx.answers.isEmpty)
        guard case .soa(let soa) = nx.authorities.first?.data else {
            Issue.record("no SOA in \(nx.authorities)")
            return
        }
        #expect(soa.minimum == 30 && soa.primary.key == "ns.test")
        let encoded = try DNSMessage(bytes: try corpusPacket("unbound-nxdomain")).encoded()
        #expect(ForwardCache.cacheability(encoded)?.ttl == 30)

        let nodata = try DNSMessage(bytes: try corpusPacket("unbound-nodata"))
        #expect(nodata.header.rcode == 0 && nodata.answers.isEmpty && nodata.authorities.first?.type == .soa)
    }

    @Test func everyCorpusPacketSurvivesARoundTrip() throws {
        for (name, bytes) in try corpus() {
            let message = try DNSMessage(bytes: bytes)
            #expect(try DNSMessage(bytes: message.bytes) == message, "\(name)")
        }
    }

    /// The encoder compresses the answer's owner to a pointer at the question (offset 12).
    @Test func goldenBytesWithCompression() throws {
        var header = DNSHeader(id: 0xBEEF, flags: 0x8180)
        header.recursionAvailable = true
        let name = try DNSName("web.front")
        let message = DNSMessage(
            header: header, questions: [DNSQuestion(name: name, type: .a)],
            answers: [DNSRecord(name: name, type: .a, ttl: 60, data: .a(try ip("10.10.0.2")))])
        var expected: [UInt8] = [0xBE, 0xEF, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        expected += [3, 0x77, 0x65, 0x62, 5, 0x66, 0x72, 0x6F, 0x6E, 0x74, 0, 0, 1, 0, 1]  // web.front A IN
        expected += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 10, 0, 2]
        #expect(message.bytes == expected)
    }

    @Test func badNamesAreRejectedWithWhereTheyFailed() throws {
        let header: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        // A pointer to itself (a loop), and one pointing forward.
        #expect(throws: DNSError.badPointer(at: 12)) {
            try DNSMessage(bytes: header + [0xC0, 12, 0, 1, 0, 1])
        }
        #expect(throws: DNSError.badPointer(at: 12)) {
            try DNSMessage(bytes: header + [0xC0, 14, 0, 1, 0, 1, 0])
        }
        // Two names pointing at each other's start after a label.
        let loop: [UInt8] = header + [1, 0x61, 0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSError.badPointer(at: 14)) { try DNSMessage(bytes: loop) }
        // Reserved label type 0x40.
        #expect(throws: DNSError.badLabelType(at: 12)) {
            try DNSMessage(bytes: header + [0x41, 0, 0, 1, 0, 1])
        }
        // 5 labels of 63 bytes: over 255 on the wire.
        let long = (0..<5).flatMap { _ in [UInt8(63)] + [UInt8](repeating: 0x61, count: 63) }
        #expect(throws: DNSError.nameTooLong(at: 12)) {
            try DNSMessage(bytes: header + long + [0, 0, 1, 0, 1])
        }
        // Ends inside the question.
        #expect(throws: DNSError.truncated(at: 12)) { try DNSMessage(bytes: header + [3, 0x61, 0x62]) }
        #expect(throws: DNSError.truncated(at: 4)) { try DNSMessage(bytes: [0, 1, 0, 0]) }
    }

    @Test func recordDataMustFillItsLength() throws {
        let answer: [UInt8] =
            [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0] + [0, 0, 1, 0, 1, 0, 0, 0, 9, 0, 3, 1, 2, 3]
        #expect(throws: DNSError.badRecordLength(at: 23)) { try DNSMessage(bytes: answer) }
    }

    @Test func namesFromText() throws {
        #expect(try DNSName("Web.Front.").key == "web.front")
        #expect(try DNSName("Web.Front").description == "Web.Front")
        #expect(throws: DNSError.invalidName("a..b")) { try DNSName("a..b") }
        let label = String(repeating: "x", count: 64)
        #expect(throws: DNSError.invalidName(label)) { try DNSName(label) }
    }
}
