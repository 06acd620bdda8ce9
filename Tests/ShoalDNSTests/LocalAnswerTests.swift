import NIOCore
import ShoalModel
import Testing

@testable import ShoalDNS

/// What a client sees for Shoal's own names: every answer is read back with the codec.
@Suite struct LocalAnswerTests {
    @Test func serviceNamesAnswerTheVIPAndTasksNamesTheRunningTasks() throws {
        let web = try answer(try makeQuery("web", .a), scope: .task("t-cf"))
        #expect(web?.header.rcode == 0 && web?.header.authoritative == true)
        #expect(addresses(web) == ["10.10.0.2"])
        #expect(web?.answers.first?.ttl == LocalTTL.virtualIP)
        // w3 is draining: not in tasks.web.
        #expect(
            addresses(try answer(try makeQuery("tasks.web", .a), scope: .task("t-cf"))) == [
                "10.10.0.11", "10.10.0.12",
            ])
        #expect(addresses(try answer(try makeQuery("www", .a), scope: .task("t-cf"))) == ["10.10.0.2"])
        #expect(
            addresses(try answer(try makeQuery("web-primary", .a), scope: .task("t-cf"))) == ["10.10.0.11"])
        #expect(addresses(try answer(try makeQuery("web.w1", .a), scope: .task("t-cf"))) == ["10.10.0.11"])
    }

    @Test func namesAreCaseInsensitiveAndTheQuestionComesBackAsAsked() throws {
        let reply = try answer(try makeQuery("WeB.FrOnT", .a), scope: .task("t-cf"))
        #expect(addresses(reply) == ["10.10.0.2"])
        #expect(reply?.questions.first?.name.description == "WeB.FrOnT")
    }

    @Test func dnsrrAnswersTaskAddressesShuffled() throws {
        var orders = Set<[String]>()
        for _ in 0..<40 {
            let reply = try answer(try makeQuery("big", .a, udpSize: 4096), scope: .task("t-cf"))
            #expect(reply?.answers.count == 60 && reply?.header.truncated == false)
            orders.insert(reply?.answers.map { "\($0.data)" } ?? [])
        }
        #expect(orders.count > 1)
        #expect(
            addresses(try answer(try makeQuery("db", .a), scope: .task("t-cb"))) == [
                "10.20.0.21", "10.20.0.22",
            ])
    }

    @Test func onlyNamesOnTheAskingTasksNetworks() throws {
        // Without an upstream, a name that is not Shoal's for this task is refused, never answered.
        #expect(
            try answer(try makeQuery("db", .a), scope: .task("t-cf"))?.header.rcode
                == DNSRCode.refused.rawValue)
        #expect(
            try answer(try makeQuery("web", .a), scope: .task("t-cb"))?.header.rcode
                == DNSRCode.refused.rawValue)
        #expect(addresses(try answer(try makeQuery("api", .a), scope: .task("t-cb"))) == ["10.20.0.3"])
        #expect(
            addresses(try answer(try makeQuery("api", .a), scope: .task("t-both"))) == [
                "10.10.0.3", "10.20.0.3",
            ])
        #expect(
            addresses(try answer(try makeQuery("api.front", .a), scope: .task("t-both"))) == ["10.10.0.3"])
        #expect(
            try answer(try makeQuery("web", .a), scope: .task("gone"))?.header.rcode
                == DNSRCode.refused.rawValue)
    }

    @Test func aNameWithoutTheAskedTypeIsNODATAWithAnSOA() throws {
        let reply = try answer(try makeQuery("web", .aaaa), scope: .task("t-cf"))
        #expect(reply?.header.rcode == DNSRCode.noError.rawValue)
        #expect(reply?.answers.isEmpty == true && reply?.authorities.map(\.type) == [.soa])
        guard case .soa(let soa) = reply?.authorities.first?.data else { return }
        #expect(soa.minimum == LocalTTL.negative)
    }

    @Test func reverseNamesAndSRV() throws {
        let task = try answer(try makeQuery("11.0.10.10.in-addr.arpa", .ptr), scope: .task("t-cf"))
        #expect(task?.answers.map(\.data) == [.name(try DNSName("web.w1.front"))])
        let vip = try answer(try makeQuery("2.0.10.10.in-addr.arpa", .ptr), scope: .task("t-cf"))
        #expect(vip?.answers.map(\.data) == [.name(try DNSName("web.front"))])
        let srv = try answer(try makeQuery("_http._tcp.web", .srv), scope: .task("t-cf"))
        #expect(
            srv?.answers.map(\.data) == [
                .srv(priority: 0, weight: 10, port: 80, target: try DNSName("web.front"))
            ])
    }

    @Test func bigUDPAnswersAreTruncatedAndWholeOverTCP() throws {
        let udp = try answer(try makeQuery("big", .a), scope: .task("t-cf"))
        #expect(udp?.header.truncated == true && udp?.answers.isEmpty == true && udp?.questions.count == 1)
        let tcp = try answer(try makeQuery("big", .a), scope: .task("t-cf"), overUDP: false)
        #expect(tcp?.header.truncated == false && tcp?.answers.count == 60)
    }

    @Test func ednsClientsGetAnOPTBack() throws {
        let reply = try answer(try makeQuery("web", .a, udpSize: 4096), scope: .task("t-cf"))
        #expect(reply?.ednsUDPSize == UInt16(DNSLimits.maxUDPSize))
        #expect(try answer(try makeQuery("web", .a), scope: .task("t-cf"))?.ednsUDPSize == nil)
    }

    @Test func malformedQueriesGetFORMERROrNothing() throws {
        var twoQuestions = DNSMessage(header: DNSHeader(id: 7, flags: 0x0100))
        twoQuestions.questions = [
            DNSQuestion(name: try DNSName("web"), type: .a), DNSQuestion(name: try DNSName("db"), type: .a),
        ]
        let formErr = try answer(twoQuestions.encoded())
        #expect(formErr?.header.rcode == DNSRCode.formErr.rawValue && formErr?.header.id == 7)
        var loop = ByteBuffer(bytes: [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1])
        #expect(try answer(loop)?.header.rcode == DNSRCode.formErr.rawValue)
        // A question compressed into the header: echoing it would point at the answer's flags.
        let intoHeader = ByteBuffer(bytes: [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 2, 0, 1, 0, 1])
        #expect(try answer(intoHeader)?.header.rcode == DNSRCode.formErr.rawValue)
        loop = ByteBuffer(bytes: [0, 9, 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0])  // opcode 2 (STATUS)
        #expect(try answer(loop)?.header.rcode == DNSRCode.notImp.rawValue)
        #expect(try answer(ByteBuffer(bytes: [0, 9, 1])) == nil)
        // A response is never answered (two servers could otherwise bounce it forever).
        #expect(try answer(ByteBuffer(bytes: try corpusPacket("unbound-a"))) == nil)
    }
}
