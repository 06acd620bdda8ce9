import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// An HTTP/1.0 request without `Connection: keep-alive` ends its connection (RFC 9112 §9.3).
/// Hummingbird reads keep-alive from the `connection` header only, and the HTTP/1.0 version is
/// lost before it sees the request, so this marks such a request `connection: close` first.
final class HTTP10Closer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data), head.version == .http1_0, !head.isKeepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }

    /// Puts the closer right after NIO's HTTP/1 request decoder of a channel Hummingbird set up.
    static func install(on channel: any Channel) throws {
        let decoder = try channel.pipeline.syncOperations.handler(
            type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try channel.pipeline.syncOperations.addHandler(HTTP10Closer(), position: .after(decoder))
    }
}

/// Hummingbird's HTTP/1.1 channel with `HTTP10Closer` (the insecure listener and the admin socket).
struct ClosingHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try HTTP10Closer.install(on: channel)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 whose HTTP/1.0 requests close their connection.
    static var closingHTTP1: HTTPServerBuilder {
        HTTPServerBuilder { ClosingHTTP1Channel(base: HTTP1Channel(responder: $0)) }
    }
}
