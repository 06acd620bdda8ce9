import NIOCore
import NIOPosix

/// A question waiting for an upstream, with everyone who asked it meanwhile.
final class PendingQuestion {
    struct Waiter {
        var id: UInt16
        var limit: Int?
        var deliver: @Sendable (ByteBuffer) -> Void
    }

    let key: ForwardCache.Key
    /// The client's query with our upstream id in place of its own.
    let message: ByteBuffer
    let questionEnd: Int
    var server: Int
    var tried = 1
    var waiters: [Waiter]
    var timer: Scheduled<Void>?

    init(key: ForwardCache.Key, message: ByteBuffer, questionEnd: Int, server: Int, waiters: [Waiter]) {
        self.key = key
        self.message = message
        self.questionEnd = questionEnd
        self.server = server
        self.waiters = waiters
    }
}

/// The forwarder's state; touched only on its event loop.
final class ForwarderState {
    let config: ForwarderConfig
    let loop: any EventLoop
    var channel: (any Channel)?
    var cache: ForwardCache
    var pending: [UInt16: PendingQuestion] = [:]
    private var pendingByKey: [ForwardCache.Key: UInt16] = [:]
    /// The server that answered last: new questions start there, so a dead first server costs one
    /// timeout, not one per question.
    private var preferred = 0
    private var rng = ShuffleRNG()

    init(config: ForwarderConfig, loop: any EventLoop) {
        self.config = config
        self.loop = loop
        cache = ForwardCache(capacity: config.cacheEntries, maxTTL: config.maxCacheTTL)
    }

    func forward(
        request: ByteBuffer, query: DNSQuery, limit: Int?, deliver: @escaping @Sendable (ByteBuffer) -> Void
    ) {
        let key = ForwardCache.Key(name: query.key, type: query.type.rawValue, qclass: query.qclass)
        let waiter = PendingQuestion.Waiter(id: query.id, limit: limit, deliver: deliver)
        if let cached = cache.lookup(key, id: query.id, now: .now()) {
            Self.send(cached, to: waiter, questionEnd: query.questionEnd)
            return
        }
        if let id = pendingByKey[key], let question = pending[id] {
            question.waiters.append(waiter)
            return
        }
        guard pending.count < config.maxInFlight, !config.servers.isEmpty else {
            deliver(
                AnswerWriter.error(
                    id: query.id, flags: query.flags, rcode: .servFail, query: query, request: request,
                    allocator: ByteBufferAllocator()))
            return
        }
        var id = UInt16.random(in: 0...UInt16.max, using: &rng)
        while pending[id] != nil { id &+= 1 }
        var message = ByteBuffer()
        message.writeImmutableBuffer(request)
        message.setInteger(id, at: message.readerIndex)
        let question = PendingQuestion(
            key: key, message: message, questionEnd: query.questionEnd,
            server: preferred % config.servers.count,
            waiters: [waiter])
        pending[id] = question
        pendingByKey[key] = id
        send(id, question)
    }

    private func send(_ id: UInt16, _ question: PendingQuestion) {
        let server = config.servers[question.server]
        channel?.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: question.message), promise: nil)
        armTimer(id, question)
    }

    private func armTimer(_ id: UInt16, _ question: PendingQuestion) {
        question.timer?.cancel()
        let state = NIOLoopBound(self, eventLoop: loop)
        question.timer = loop.scheduleTask(in: config.timeout) { state.value.timedOut(id) }
    }

    private func timedOut(_ id: UInt16) {
        guard let question = pending[id] else { return }
        guard question.tried < config.servers.count else {
            finish(id, question, answer: nil)
            return
        }
        question.tried += 1
        question.server = (question.server + 1) % config.servers.count
        send(id, question)
    }

    /// An answer is taken only from the server asked, with the id and question asked; anything else
    /// is ignored (spoofing, late answers of a server given up on).
    /// `address` is nil for an answer read from the TCP connection made for this question.
    func received(_ answer: ByteBuffer, from address: SocketAddress?) {
        let overTCP = address == nil
        guard let id = answer.getInteger(at: answer.readerIndex, as: UInt16.self), let question = pending[id],
            overTCP || address == config.servers[question.server], Self.sameQuestion(answer, question)
        else { return }
        let flags = answer.getInteger(at: answer.readerIndex + 2, as: UInt16.self) ?? 0
        if flags & 0x0200 != 0 && !overTCP {
            retryOverTCP(id, question)
            return
        }
        preferred = question.server
        finish(id, question, answer: answer)
    }

    private static func sameQuestion(_ answer: ByteBuffer, _ question: PendingQuestion) -> Bool {
        let asked =
            (try? withWire(question.message) { raw throws(DNSError) in
                var reader = WireReader(raw, offset: 12)
                return try reader.nameKey()
            })
        let got =
            (try? withWire(answer) { raw throws(DNSError) in
                var reader = WireReader(raw, offset: 12)
                return try reader.nameKey()
            })
        return asked != nil && asked == got
    }

    private func finish(_ id: UInt16, _ question: PendingQuestion, answer: ByteBuffer?) {
        question.timer?.cancel()
        pending[id] = nil
        pendingByKey[question.key] = nil
        if let answer { cache.store(question.key, message: answer, now: .now()) }
        for waiter in question.waiters {
            var reply: ByteBuffer
            if let answer {
                reply = answer
            } else {
                reply = AnswerWriter.truncated(
                    question.message, questionEnd: question.questionEnd, allocator: ByteBufferAllocator())
                let flags = reply.getInteger(at: 2, as: UInt16.self) ?? 0
                // SERVFAIL: a response with the question, RA set, not truncated.
                reply.setInteger(flags & ~0x020F | 0x8080 | UInt16(DNSRCode.servFail.rawValue), at: 2)
            }
            reply.setInteger(waiter.id, at: reply.readerIndex)
            Self.send(reply, to: waiter, questionEnd: question.questionEnd)
        }
    }

    /// Delivers an answer, cut to header and question with TC when it is over the client's UDP limit.
    private static func send(_ answer: ByteBuffer, to waiter: PendingQuestion.Waiter, questionEnd: Int) {
        if let limit = waiter.limit, answer.readableBytes > limit {
            waiter.deliver(
                AnswerWriter.truncated(answer, questionEnd: questionEnd, allocator: ByteBufferAllocator()))
        } else {
            waiter.deliver(answer)
        }
    }

    /// The upstream said TC: ask the same server again over TCP, on a connection for this question.
    private func retryOverTCP(_ id: UInt16, _ question: PendingQuestion) {
        armTimer(id, question)
        let server = config.servers[question.server]
        let box = NIOLoopBound(self, eventLoop: loop)
        let message = question.message
        ClientBootstrap(group: loop)
            .connectTimeout(config.timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(LengthPrefixDecoder()), UpstreamTCPHandler(state: box))
                }
            }
            .connect(to: server)
            .whenSuccess { channel in
                channel.writeAndFlush(lengthPrefixed(message, allocator: channel.allocator), promise: nil)
            }
    }
}

/// Reads one answer from an upstream TCP connection, then closes it.
final class UpstreamTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let state: NIOLoopBound<ForwarderState>

    init(state: NIOLoopBound<ForwarderState>) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let answer = unwrapInboundIn(data)
        state.value.received(answer, from: nil)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
