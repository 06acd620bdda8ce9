import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import ShoalPKI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Sits before the TLS handler and looks at the first byte only: a TLS record starts with 0x16
/// (handshake); anything else is a plain-text client, which gets one clear 400 and is closed, so
/// `curl http://...` says what is wrong instead of "empty reply". Nothing reaches the API.
final class PlainHTTPRefuser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let body =
        #"{"reason":"this port speaks TLS 1.3 only (the API needs a client certificate of the cluster CA); plain HTTP is refused"}"#

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == 0x16 {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let response =
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: \(Self.body.utf8.count)\r\n"
            + "connection: close\r\n\r\n" + Self.body
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

/// The TLS contexts of the API and join listeners, rebuilt when the manager's certificate is renewed.
struct Contexts: Sendable {
    var api: MutualTLSServer
    var join: NIOSSLContext
}

final class ContextBox: Sendable {
    private let current: Mutex<Contexts>
    init(_ contexts: Contexts) { current = Mutex(contexts) }
    func withLock<T>(_ body: (inout Contexts) -> T) -> T { current.withLock { body(&$0) } }
}

/// A child channel that puts a TLS handler in front of HTTP/1.1 and, for mutual TLS, records the
/// verified peer for the request context.
struct TLSHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let makeTLSHandler: @Sendable () throws -> NIOSSLServerHandler
    let recordsPeer: Bool
    let counter: ConnectionCounter

    struct Refused: Error { let reason: String }

    /// HTTP/1.1 with the listener's idle timeout.
    static func http(_ responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits)
        -> HTTP1Channel
    {
        HTTP1Channel(
            responder: responder,
            configuration: .init(idleTimeout: .milliseconds(Int64(limits.idleSeconds * 1000))))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Over a limit: closed before any TLS work is spent on it.
        if let refusal = counter.admit(channel) {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(Refused(reason: refusal))
        }
        let handshakeSeconds = counter.limits.handshakeSeconds
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(PlainHTTPRefuser())
            try channel.pipeline.syncOperations.addHandler(makeTLSHandler())
            // After the TLS handler: it must see the handshake-completed event, which travels
            // towards the tail; before it, every connection was closed at the deadline.
            try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(seconds: handshakeSeconds))
            if recordsPeer { try channel.pipeline.syncOperations.addHandler(PeerRecorder()) }
        }.flatMap {
            base.setup(channel: channel, logger: logger).flatMapThrowing { value in
                try HTTP10Closer.install(on: channel)
                return value
            }
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The secure manager's three listeners:
/// - API (`--listen`): mutual TLS 1.3; every route authorized by the client certificate.
/// - join (`--join-listen`): TLS 1.3 with the manager's certificate, no client certificate; only
///   `GET /v1/join/ca` and `POST /v1/join` (the token authenticates the CSR).
/// - admin unix socket (`<data dir>/run/shoald.sock`, 0600 in a 0700 directory): admin, plain HTTP.
public struct SecureManagerServer: Sendable {
    public struct Endpoints: Sendable, Equatable {
        public var apiPort: Int
        public var joinPort: Int
        public var socketPath: String
    }

    public let manager: Manager
    public let security: ClusterSecurity
    public var apiHost: String
    public var apiPort: Int
    public var joinHost: String
    public var joinPort: Int
    public var socketPath: String
    public var logger: Logger
    /// Limits of the API and join listeners (the admin socket has none).
    public var apiLimits: ConnectionLimits
    public var joinLimits: ConnectionLimits
    /// Every refused handshake, with its typed reason (also logged).
    public var onRefused: (@Sendable (PeerVerificationError) -> Void)?

    public init(
        manager: Manager, security: ClusterSecurity, apiHost: String, apiPort: Int, joinHost: String,
        joinPort: Int, socketPath: String? = nil, logger: Logger = Logger(label: "shoald.manager"),
        onRefused: (@Sendable (PeerVerificationError) -> Void)? = nil
    ) {
        self.manager = manager
        self.security = security
        self.apiHost = apiHost
        self.apiPort = apiPort
        self.joinHost = joinHost
        self.joinPort = joinPort
        self.socketPath = socketPath ?? ClusterSecurity.socketPath(security.dataDir)
        self.logger = logger
        self.onRefused = onRefused
        (apiLimits, joinLimits) = ConnectionLimits.defaults()
    }

    /// Serves until cancelled; `onRunning` gets the bound ports once all three listeners are up.
    public func run(onRunning: @escaping @Sendable (Endpoints) async -> Void = { _ in }) async throws {
        let logger = logger
        let security = security
        let onRefused = onRefused
        _ = try security.renewOwnCredentialsIfNeeded()
        let makeAPI: @Sendable () throws -> MutualTLSServer = {
            try MutualTLSServer(
                credentials: security.managerCredentials, revocations: security.revocations,
                onRefused: { error in
                    logger.warning("refused a client certificate: \(error)")
                    onRefused?(error)
                })
        }
        let makeContexts: @Sendable () throws -> Contexts = {
            Contexts(
                api: try makeAPI(),
                join: try NIOSSLContext(
                    configuration: ShoalTLS.joinServerConfiguration(security.managerCredentials)))
        }
        // New connections take the current contexts; a renewal of the manager's certificate swaps them.
        let contexts = ContextBox(try makeContexts())
        // A refusal means the manager may be missing heartbeats it was sent: no node is declared
        // DOWN for the time the listeners were full.
        let manager = manager
        let lastLogged = Mutex<Double>(0)
        let overloaded: @Sendable (String, String) -> Void = { listener, reason in
            let now = manager.clock()
            manager.heartbeats.noteOverload(at: now)
            // At most one line a second: a flood must not become a flood of log lines.
            let logs = lastLogged.withLock { last in
                guard now - last >= 1 else { return false }
                last = now
                return true
            }
            if logs { logger.warning("\(listener) listener refuses connections: \(reason)") }
        }
        let apiCounter = ConnectionCounter(limits: apiLimits) { overloaded("API", $0) }
        let joinCounter = ConnectionCounter(limits: joinLimits) { overloaded("join", $0) }
        let (apiLimits, joinLimits) = (apiLimits, joinLimits)
        try prepareSocketDirectory()

        let bound = Mutex<(api: Int?, join: Int?, socket: Bool)>((nil, nil, false))
        let socketPath = socketPath
        let report: @Sendable () async -> Void = {
            let ready = bound.withLock { state -> Endpoints? in
                guard let api = state.api, let join = state.join, state.socket else { return nil }
                return Endpoints(apiPort: api, joinPort: join, socketPath: socketPath)
            }
            if let ready { await onRunning(ready) }
        }
        let api = Application(
            router: ManagerAPI.router(manager: manager, mode: .mutualTLS, security: security),
            server: HTTPServerBuilder { responder in
                TLSHTTPChannel(
                    base: TLSHTTPChannel.http(responder, limits: apiLimits),
                    // A TLS context per connection: BoringSSL issues TLS 1.3 session tickets that
                    // NIOSSL cannot turn off, and a resumed session skips the certificate check.
                    // Each context has its own ticket key, so no ticket is ever accepted: every
                    // connection makes a full handshake with the verification callback.
                    makeTLSHandler: { try makeAPI().makeHandler() },
                    recordsPeer: true, counter: apiCounter)
            },
            configuration: ApplicationConfiguration(
                address: .hostname(apiHost, port: apiPort), serverName: "shoald"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port
                bound.withLock { $0.api = port }
                if let port { security.setAPIPort(port) }
                await report()
            },
            logger: logger)
        let join = Application(
            router: ManagerAPI.router(manager: manager, mode: .join, security: security),
            server: HTTPServerBuilder { responder in
                TLSHTTPChannel(
                    base: TLSHTTPChannel.http(responder, limits: joinLimits),
                    makeTLSHandler: { NIOSSLServerHandler(context: contexts.withLock { $0.join }) },
                    recordsPeer: false, counter: joinCounter)
            },
            configuration: ApplicationConfiguration(
                address: .hostname(joinHost, port: joinPort), serverName: "shoald"),
            onServerRunning: { channel in
                bound.withLock { $0.join = channel.localAddress?.port }
                await report()
            },
            logger: logger)
        let local = Application(
            router: ManagerAPI.router(manager: manager, mode: .localSocket, security: security),
            server: .closingHTTP1,
            configuration: ApplicationConfiguration(
                address: .unixDomainSocket(path: socketPath), serverName: "shoald"),
            onServerRunning: { _ in
                // The directory is 0700 already; the socket itself is 0600 too.
                chmod(socketPath, 0o600)
                bound.withLock { $0.socket = true }
                await report()
            },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GracefulServers.run([api, join, local], logger: logger) }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(3600))
                    do {
                        if try security.renewOwnCredentialsIfNeeded() {
                            let renewed = try makeContexts()
                            contexts.withLock { $0 = renewed }
                            logger.info("renewed the manager's certificate")
                        }
                    } catch {
                        logger.error("cannot renew the manager's certificate: \(error)")
                    }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Creates the socket's directory 0700 and removes a socket left by a previous run.
    private func prepareSocketDirectory() throws {
        let directory = (socketPath as NSString).deletingLastPathComponent
        try SecureFile.makeDirectory(directory)
        chmod(directory, 0o700)
        unlink(socketPath)
    }
}
