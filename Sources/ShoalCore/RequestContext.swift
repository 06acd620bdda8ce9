import Hummingbird
import NIOCore
import NIOSSL
import NIOTLS
import ShoalModel
import ShoalPKI
import Synchronization

/// How a listener authenticates its callers.
public enum ListenerMode: Sendable {
    /// `--insecure-dev`: plain HTTP, no authentication at all.
    case insecure
    /// The manager's 0600 unix socket: whoever can open it is an admin.
    case localSocket
    /// The join listener: TLS with the manager's certificate only; serves nothing but the join routes.
    case join
    /// The API listener: mutual TLS; every request is authorized by the peer's certificate.
    case mutualTLS
}

/// The request context: Hummingbird's storage plus the verified peer of the connection (mutual TLS).
public struct ShoalRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The certificate identity proven in this connection's handshake, if any.
    public let peer: NodeIdentity?
    /// Set by the router of a secure manager (nil with `--insecure-dev`).
    public var security: ClusterSecurity?
    public var mode: ListenerMode = .insecure
    /// The IPv4 address the connection comes from (nil on the unix socket).
    public let remoteAddress: IPv4Address?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = PeerConnections.shared.identity(of: source.channel)
        remoteAddress = source.channel.remoteAddress?.ipAddress.flatMap { IPv4Address($0) }
    }
}

/// Open mutual TLS connections and who is on the other end. The request context reads the identity
/// here; `node rm` closes every connection of a revoked node (its feed included), because revocation
/// is checked only at handshake time.
public final class PeerConnections: Sendable {
    public static let shared = PeerConnections()

    private struct Entry {
        var identity: NodeIdentity
        var channel: any Channel
    }
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    func record(_ channel: any Channel, _ identity: NodeIdentity) {
        entries.withLock { $0[ObjectIdentifier(channel)] = Entry(identity: identity, channel: channel) }
    }

    func forget(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    public func identity(of channel: any Channel) -> NodeIdentity? {
        entries.withLock { $0[ObjectIdentifier(channel)]?.identity }
    }

    /// Number of open connections of `nodeID`.
    public func count(nodeID: String) -> Int {
        entries.withLock { $0.values.filter { $0.identity.nodeID == nodeID }.count }
    }

    /// Closes every open connection of `nodeID`.
    public func close(nodeID: String) { close { $0.nodeID == nodeID } }

    /// Closes every open connection made with the certificate `serial`.
    public func close(serial: String) { close { $0.serial == serial.lowercased() } }

    private func close(where matches: (NodeIdentity) -> Bool) {
        let channels = entries.withLock { $0.values.filter { matches($0.identity) }.map(\.channel) }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// Sits right after the TLS handler: records the verified peer once the handshake completed.
final class PeerRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls,
            let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let identity = ShoalTLS.peerIdentity(of: handler)
        {
            PeerConnections.shared.record(context.channel, identity)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        PeerConnections.shared.forget(context.channel)
        context.fireChannelInactive()
    }
}
