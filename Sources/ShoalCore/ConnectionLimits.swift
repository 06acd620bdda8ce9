import Foundation
import NIOCore
import NIOTLS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How many connections a public listener holds and for how long, so that a flood of idle or
/// slow clients cannot take the file descriptors the store, the admin socket and the agents'
/// heartbeats need.
public struct ConnectionLimits: Sendable, Equatable {
    /// Open connections per listener; further ones are closed at once.
    public var perListener: Int
    /// Open connections per source address on one listener.
    public var perSource: Int
    /// A TLS handshake not finished in this time is dropped (slowloris).
    public var handshakeSeconds: Double
    /// A connection with no request in flight is closed after this long (a feed stream is a
    /// request in flight; its keep-alives keep it busy).
    public var idleSeconds: Double

    public init(perListener: Int, perSource: Int, handshakeSeconds: Double = 10, idleSeconds: Double = 60) {
        self.perListener = perListener
        self.perSource = perSource
        self.handshakeSeconds = handshakeSeconds
        self.idleSeconds = idleSeconds
    }

    /// Limits of the API listener (agents and admins) and of the join listener (unauthenticated:
    /// a smaller share), from the process's file-descriptor limit less a reserve of 512 for the
    /// store, the admin socket and the logs.
    public static func defaults(descriptors: Int = ConnectionLimits.descriptorLimit()) -> (
        api: ConnectionLimits, join: ConnectionLimits
    ) {
        let available = max(descriptors - 512, 128)
        let join = max(available / 8, 32)
        return (
            ConnectionLimits(perListener: available - join, perSource: 512),
            ConnectionLimits(perListener: join, perSource: 16)
        )
    }

    /// Raises the soft RLIMIT_NOFILE to the hard one (as dockerd does) and returns it.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return descriptorLimit()
    }

    public static func descriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }
}

/// Counts one listener's open connections, in total and per source address.
final class ConnectionCounter: Sendable {
    let limits: ConnectionLimits
    /// Called (with the reason) each time a connection is refused for a limit.
    let onRefused: @Sendable (String) -> Void
    private let state = Mutex<(total: Int, bySource: [String: Int])>((0, [:]))

    init(limits: ConnectionLimits, onRefused: @escaping @Sendable (String) -> Void) {
        self.limits = limits
        self.onRefused = onRefused
    }

    /// Admits `channel` (and releases it when it closes) or says why not.
    func admit(_ channel: any Channel) -> String? {
        let source = channel.remoteAddress?.ipAddress ?? "?"
        let refusal = state.withLock { state -> String? in
            if state.total >= limits.perListener {
                return "listener full (\(limits.perListener) connections)"
            }
            let fromSource = state.bySource[source, default: 0]
            if fromSource >= limits.perSource {
                return "\(source) holds \(limits.perSource) connections already"
            }
            state.total += 1
            state.bySource[source] = fromSource + 1
            return nil
        }
        if let refusal {
            onRefused(refusal)
            return refusal
        }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { state in
                state.total -= 1
                let left = state.bySource[source, default: 1] - 1
                state.bySource[source] = left > 0 ? left : nil
            }
        }
        return nil
    }

    var open: Int { state.withLock { $0.total } }
}

/// Closes a connection whose TLS handshake has not completed in time.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let seconds: Double
    private var timer: Scheduled<Void>?

    init(seconds: Double) { self.seconds = seconds }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            timer?.cancel()
            timer = nil
        }
        context.fireUserInboundEventTriggered(event)
    }
}
