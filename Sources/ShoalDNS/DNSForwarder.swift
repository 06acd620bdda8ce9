import NIOCore
import NIOPosix

/// Sends the questions Shoal does not own to the node's upstream resolvers and caches the answers.
/// One UDP socket for every question (no socket per query); all state lives on one event loop.
public final class DNSForwarder: Sendable {
    let loop: any EventLoop
    private let state: NIOLoopBoundBox<ForwarderState>

    private init(loop: any EventLoop, state: NIOLoopBoundBox<ForwarderState>) {
        self.loop = loop
        self.state = state
    }

    /// Opens the upstream socket (in the calling process's namespace: the agent's, so a 127.0.0.53
    /// stub of the host is reachable).
    public static func start(config: ForwarderConfig, group: any EventLoopGroup) async throws -> DNSForwarder
    {
        let loop = group.next()
        let box = try await loop.submit {
            NIOLoopBoundBox(ForwarderState(config: config, loop: loop), eventLoop: loop)
        }.get()
        let channel = try await DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamResponseHandler(state: box))
                }
            }
            .bind(host: "0.0.0.0", port: 0).get()
        try await loop.submit { box.value.channel = channel }.get()
        return DNSForwarder(loop: loop, state: box)
    }

    /// Answers `query` from the cache or upstream; `deliver` gets the answer (or SERVFAIL) on the
    /// forwarder's loop. `limit` is the client's UDP limit (nil over TCP).
    func forward(
        request: ByteBuffer, query: DNSQuery, limit: Int?, deliver: @escaping @Sendable (ByteBuffer) -> Void
    ) {
        let state = self.state
        loop.execute { state.value.forward(request: request, query: query, limit: limit, deliver: deliver) }
    }

    /// Entries in the cache and questions waiting upstream (for tests and the admin view).
    public func counts() async throws -> (cached: Int, inFlight: Int) {
        let state = self.state
        return try await loop.submit { (state.value.cache.count, state.value.pending.count) }.get()
    }

    public func close() async throws {
        let state = self.state
        try await loop.flatSubmit {
            state.value.channel?.close() ?? state.value.loop.makeSucceededVoidFuture()
        }
        .get()
    }
}

/// Reads upstream answers on the forwarder's socket.
final class UpstreamResponseHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let state: NIOLoopBoundBox<ForwarderState>

    init(state: NIOLoopBoundBox<ForwarderState>) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        state.value.received(envelope.data, from: envelope.remoteAddress)
    }

    /// ICMP unreachable from a down upstream: the timeout moves on to the next server.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}
