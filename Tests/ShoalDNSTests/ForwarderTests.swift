import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShoalModel
import Testing

@testable import ShoalDNS

/// An upstream resolver on loopback (UDP and TCP on one port) that answers a few names and counts
/// the questions it got.
final class FakeUpstream: Sendable {
    let udp: any Channel
    let tcp: any Channel
    let questions: NIOLockedValueBox<Int>

    init(group: any EventLoopGroup) async throws {
        let questions = NIOLockedValueBox(0)
        self.questions = questions
        tcp = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(LengthPrefixDecoder()), TCPAnswerer(questions: questions))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        udp = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPAnswerer(questions: questions))
                }
            }
            .bind(host: "127.0.0.1", port: tcp.localAddress?.port ?? 0).get()
    }

    func close() async {
        try? await udp.close()
        try? await tcp.close()
    }

    static func answer(_ request: ByteBuffer, overTCP: Bool) -> ByteBuffer? {
        guard let query = try? DNSMessage(bytes: request), let question = query.questions.first else {
            return nil
        }
        var reply = DNSMessage(header: DNSHeader(id: query.header.id, flags: 0x8180), questions: [question])
        let soa = DNSSOA(
            primary: DNSName.root, mailbox: DNSName.root, serial: 1, refresh: 1, retry: 1, expire: 1,
            minimum: 30)
        switch question.name.key {
        case "ext.test":
            reply.answers = [
                DNSRecord(name: question.name, type: .a, ttl: 300, data: .a(IPv4Address(0xC000_0207)))
            ]
        case "big.test" where !overTCP:
            reply.header.truncated = true
        case "big.test":
            reply.answers = (1...100).map {
                DNSRecord(name: question.name, type: .a, ttl: 300, data: .a(IPv4Address(0x0A00_0000 + $0)))
            }
        default:
            reply.header.rcode = DNSRCode.nxDomain.rawValue
            reply.authorities = [DNSRecord(name: .root, type: .soa, ttl: 3600, data: .soa(soa))]
        }
        return reply.encoded()
    }

    final class UDPAnswerer: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let questions: NIOLockedValueBox<Int>
        init(questions: NIOLockedValueBox<Int>) { self.questions = questions }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            questions.withLockedValue { $0 += 1 }
            guard let reply = FakeUpstream.answer(envelope.data, overTCP: false) else { return }
            context.writeAndFlush(
                wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)),
                promise: nil)
        }
    }

    final class TCPAnswerer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let questions: NIOLockedValueBox<Int>
        init(questions: NIOLockedValueBox<Int>) { self.questions = questions }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            questions.withLockedValue { $0 += 1 }
            guard let reply = FakeUpstream.answer(unwrapInboundIn(data), overTCP: true) else { return }
            context.writeAndFlush(
                wrapOutboundOut(lengthPrefixed(reply, allocator: context.channel.allocator)), promise: nil)
        }
    }
}

@Suite struct ForwarderTests {
    /// Asks through the server's query path (as a UDP client unless `overUDP` is false).
    static func ask(
        _ processor: QueryProcessor, _ name: String, udpSize: UInt16? = nil, overUDP: Bool = true
    ) async throws -> DNSMessage {
        let request = try makeQuery(name, .a, id: 77, udpSize: udpSize)
        let reply: ByteBuffer = await withCheckedContinuation { continuation in
            var rng = ShuffleRNG()
            if let now = processor.process(
                request, scope: .task("t-cf"), overUDP: overUDP, allocator: ByteBufferAllocator(), rng: &rng,
                deliver: { continuation.resume(returning: $0) })
            {
                continuation.resume(returning: now)
            }
        }
        return try DNSMessage(bytes: reply)
    }

    /// The fake upstream, or a socket that reads and never answers (an upstream that is down).
    enum Upstream { case answering, silent }

    static func withForwarder(
        servers: [Upstream], timeout: TimeAmount = .seconds(2),
        maxInFlight: Int = 64, _ body: (QueryProcessor, FakeUpstream, DNSForwarder) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await FakeUpstream(group: group)
        // Reads and never answers: an upstream that is down (without ICMP telling us so).
        let silent = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let forwarder = try await DNSForwarder.start(
            config: ForwarderConfig(
                servers: servers.compactMap {
                    $0 == .answering ? upstream.udp.localAddress : silent.localAddress
                },
                timeout: timeout, maxInFlight: maxInFlight),
            group: group)
        let processor = QueryProcessor(
            records: DNSRecordStore(DNSRecordTable(view: try labView())), forwarder: forwarder)
        do {
            try await body(processor, upstream, forwarder)
        } catch {
            Issue.record(error)
        }
        try await forwarder.close()
        try? await silent.close()
        await upstream.close()
        try await group.shutdownGracefully()
    }

    @Test func forwardsAndAnswersAgainFromTheCache() async throws {
        try await Self.withForwarder(servers: [.answering]) {
            processor, upstream, forwarder in
            let seven = DNSRData.a(try ip("192.0.2.7"))
            let first = try await Self.ask(processor, "ext.test")
            #expect(first.header.id == 77 && first.answers.map(\.data) == [seven])
            let second = try await Self.ask(processor, "EXT.test")
            #expect(second.header.id == 77 && second.answers.map(\.data) == [seven])
            #expect((second.answers.first?.ttl ?? 0) <= 300)
            #expect(upstream.questions.withLockedValue { $0 } == 1)
            #expect(try await forwarder.counts().cached == 1)
            // Shoal's own names are never forwarded.
            #expect(addresses(try await Self.ask(processor, "web")) == ["10.10.0.2"])
            #expect(upstream.questions.withLockedValue { $0 } == 1)
        }
    }

    @Test func nxdomainIsCachedForTheSOAMinimum() async throws {
        try await Self.withForwarder(servers: [.answering]) {
            processor, upstream, _ in
            for _ in 0..<3 {
                let reply = try await Self.ask(processor, "nope.test")
                #expect(reply.header.rcode == DNSRCode.nxDomain.rawValue)
            }
            #expect(upstream.questions.withLockedValue { $0 } == 1)
        }
    }

    @Test func aDeadFirstServerCostsOneTimeoutThenTheNextAnswers() async throws {
        try await Self.withForwarder(
            servers: [.silent, .answering],
            timeout: .seconds(2)
        ) { processor, _, _ in
            let clock = ContinuousClock()
            var start = clock.now
            let slow = try await Self.ask(processor, "ext.test")
            #expect(slow.answers.count == 1 && clock.now - start >= .seconds(2))
            // The server that answered is asked first from now on: no second timeout (the bound is
            // the timeout itself, so a loaded machine does not fail it).
            start = clock.now
            let fast = try await Self.ask(processor, "other.test")
            #expect(fast.header.rcode == DNSRCode.nxDomain.rawValue && clock.now - start < .seconds(2))
        }
    }

    @Test func allServersDownGivesSERVFAIL() async throws {
        try await Self.withForwarder(
            servers: [.silent], timeout: .milliseconds(100)
        ) { processor, _, _ in
            let reply = try await Self.ask(processor, "ext.test")
            #expect(reply.header.rcode == DNSRCode.servFail.rawValue && reply.header.id == 77)
            #expect(reply.questions.first?.name.key == "ext.test")
        }
    }

    @Test func truncatedUpstreamAnswersAreFetchedOverTCP() async throws {
        try await Self.withForwarder(servers: [.answering]) {
            processor, upstream, _ in
            let tcp = try await Self.ask(processor, "big.test", overUDP: false)
            #expect(tcp.answers.count == 100 && !tcp.header.truncated)
            #expect(upstream.questions.withLockedValue { $0 } == 2)  // UDP (TC), then TCP
            // A UDP client gets TC from the cached whole answer, and retries over TCP itself.
            let udp = try await Self.ask(processor, "big.test", udpSize: 1232)
            #expect(udp.header.truncated && udp.answers.isEmpty)
        }
    }

    @Test func questionsOverTheInFlightLimitGetSERVFAILAtOnce() async throws {
        try await Self.withForwarder(
            servers: [.silent], timeout: .seconds(4),
            maxInFlight: 1
        ) { processor, _, forwarder in
            async let first = Self.ask(processor, "one.test")
            try await Task.sleep(for: .milliseconds(100))
            let clock = ContinuousClock()
            let start = clock.now
            let second = try await Self.ask(processor, "two.test")
            #expect(
                second.header.rcode == DNSRCode.servFail.rawValue && clock.now - start < .seconds(2))
            #expect(try await forwarder.counts().inFlight == 1)
            _ = try await first
        }
    }
}
