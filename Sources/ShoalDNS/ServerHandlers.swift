import NIOCore

/// Answers datagrams on one listener socket. Answers found locally are written as they are made and
/// flushed once per read burst (NIO then sends them with sendmmsg).
final class UDPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let processor: QueryProcessor
    private let scope: DNSScope
    private var rng = ShuffleRNG()
    private var needsFlush = false

    init(processor: QueryProcessor, scope: DNSScope) {
        self.processor = processor
        self.scope = scope
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        let channel = context.channel
        let answer = processor.process(
            envelope.data, scope: scope, overUDP: true, allocator: channel.allocator, rng: &rng
        ) { forwarded in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: forwarded), promise: nil)
        }
        if let answer {
            context.write(
                wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: answer)), promise: nil)
            needsFlush = true
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// A send to a client that went away (ICMP port unreachable) must not close the listener.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

/// Splits a TCP stream into DNS messages by their 2-byte length prefix (RFC 1035 4.2.2).
struct LengthPrefixDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        guard let message = buffer.readSlice(length: Int(length)) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }
}

func lengthPrefixed(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
    var framed = allocator.buffer(capacity: message.readableBytes + 2)
    framed.writeInteger(UInt16(truncatingIfNeeded: message.readableBytes))
    framed.writeImmutableBuffer(message)
    return framed
}

/// Answers every query of one TCP connection; forwarded answers may come back out of order,
/// which RFC 7766 allows (the id matches them up).
final class TCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let processor: QueryProcessor
    private let scope: DNSScope
    private var rng = ShuffleRNG()

    init(processor: QueryProcessor, scope: DNSScope) {
        self.processor = processor
        self.scope = scope
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        let answer = processor.process(
            unwrapInboundIn(data), scope: scope, overUDP: false, allocator: channel.allocator, rng: &rng
        ) { forwarded in
            channel.writeAndFlush(lengthPrefixed(forwarded, allocator: channel.allocator), promise: nil)
        }
        if let answer {
            context.writeAndFlush(
                wrapOutboundOut(lengthPrefixed(answer, allocator: channel.allocator)), promise: nil)
        }
    }

    /// Idle connections are closed so they cannot pile up.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
