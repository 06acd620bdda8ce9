import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

@testable import ShoalPKI

/// What the server side of a test connection saw.
final class ServerEvents: Sendable {
    private let state = Mutex<(refusals: [PeerVerificationError], errors: [String], greeted: [String])>(
        (refusals: [], errors: [], greeted: []))

    func refused(_ error: PeerVerificationError) { state.withLock { $0.refusals.append(error) } }
    func failed(_ error: String) { state.withLock { $0.errors.append(error) } }
    func greeted(_ line: String) { state.withLock { $0.greeted.append(line) } }

    var refusals: [PeerVerificationError] { state.withLock { $0.refusals } }
    var errors: [String] { state.withLock { $0.errors } }
    var greetings: [String] { state.withLock { $0.greeted } }

    /// Server-side events can trail the client's view of the close by a moment.
    func waitUntil(_ condition: (ServerEvents) -> Bool) async throws {
        for _ in 0..<200 where !condition(self) {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// After the handshake, answers "hello <node id> <role> <tls version>\n" using the identity the
/// verification proved: what an API handler would use to authorize.
final class Greeter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let events: ServerEvents

    init(events: ServerEvents) { self.events = events }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            let identity = handler.flatMap { ShoalTLS.peerIdentity(of: $0) }
            let version = handler?.tlsVersion.map { "\($0)" } ?? "?"
            let line =
                identity.map { "hello \($0.nodeID) \($0.role) \(version)\n" }
                ?? "hello unverified \(version)\n"
            events.greeted(line)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line)), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A plain-text client must never get anything meaningful back; we do not echo.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        events.failed("\(error)")
        context.close(promise: nil)
    }
}

/// What the client of a test connection received before the connection closed.
struct Outcome: Sendable {
    var received: String
    var error: String?
}

final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Outcome>
    var received = ""
    var error: String?

    init(done: EventLoopPromise<Outcome>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
        if received.contains("\n") {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.error == nil { self.error = "\(error)" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(Outcome(received: received, error: error))
        context.fireChannelInactive()
    }
}

/// A loopback server on 127.0.0.1 with an ephemeral port.
struct TLSServerFixture {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let events: ServerEvents

    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(
        _ makeServerHandler: @escaping @Sendable () -> NIOSSLServerHandler, events: ServerEvents
    )
        async throws -> TLSServerFixture
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(makeServerHandler())
                    try channel.pipeline.syncOperations.addHandler(Greeter(events: events))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TLSServerFixture(group: group, channel: channel, events: events)
    }

    /// Connects, optionally with a TLS handler and an initial plain write, and returns what came back.
    func exchange(tls makeClientHandler: (@Sendable () throws -> NIOSSLClientHandler)?, send: String? = nil)
        async throws -> Outcome
    {
        let done = group.next().makePromise(of: Outcome.self)
        let client = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let makeClientHandler {
                        try channel.pipeline.syncOperations.addHandler(makeClientHandler())
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        if let send {
            try await client.writeAndFlush(ByteBuffer(string: send))
        }
        // Never hang a test: whatever happens, the connection ends within 10 s.
        let deadline = client.eventLoop.scheduleTask(in: .seconds(10)) { client.close(promise: nil) }
        let outcome = try await done.futureResult.get()
        deadline.cancel()
        return outcome
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}
