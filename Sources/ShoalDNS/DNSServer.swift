import Glibc
import NIOCore
import NIOPosix

/// Serves Shoal's names on any number of listeners, each answering for one scope (a task, when the
/// agent hands over the sockets it made in the task's namespace).
public final class DNSServer: Sendable {
    public let records: DNSRecordStore
    public let forwarder: DNSForwarder?
    private let processor: QueryProcessor
    private let group: any EventLoopGroup
    /// A TCP connection with no query for this long is closed.
    public static let tcpIdleTimeout = TimeAmount.seconds(10)

    public init(group: any EventLoopGroup, records: DNSRecordStore, forwarder: DNSForwarder?) {
        self.group = group
        self.records = records
        self.forwarder = forwarder
        processor = QueryProcessor(records: records, forwarder: forwarder)
    }

    /// Serves on sockets the caller made: a bound UDP socket and a bound, listening TCP socket (the
    /// agent makes them inside the task's namespace on 127.0.0.11:53; NIO owns and closes them).
    public func serve(udpSocket: NIOBSDSocket.Handle, tcpSocket: NIOBSDSocket.Handle, scope: DNSScope)
        async throws -> DNSListener
    {
        let udp = try await udpBootstrap(scope: scope, loop: group.next()).withBoundSocket(udpSocket).get()
        do {
            let tcp = try await tcpBootstrap(scope: scope).withBoundSocket(tcpSocket).get()
            return DNSListener(channels: [udp, tcp])
        } catch {
            try? await udp.close()
            throw error
        }
    }

    /// Binds `host:port` itself (loopback listeners for tests and the benchmark). `udpSockets` > 1
    /// opens that many UDP sockets with SO_REUSEPORT, spread over the event loops.
    public func serve(host: String, port: Int, scope: DNSScope, udpSockets: Int = 1) async throws
        -> DNSListener
    {
        var channels: [any Channel] = []
        do {
            let tcp = try await tcpBootstrap(scope: scope)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            channels.append(tcp)
            let boundPort = tcp.localAddress?.port ?? port
            for _ in 0..<max(1, udpSockets) {
                let udp = try await udpBootstrap(scope: scope, loop: group.next())
                    .channelOption(
                        .socket(SocketOptionLevel(SOL_SOCKET), SocketOptionName(SO_REUSEPORT)), value: 1
                    )
                    .bind(host: host, port: boundPort).get()
                channels.append(udp)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return DNSListener(channels: channels)
    }

    private func udpBootstrap(scope: DNSScope, loop: any EventLoop) -> DatagramBootstrap {
        let processor = self.processor
        return DatagramBootstrap(group: loop)
            .channelOption(.datagramVectorReadMessageCount, value: 32)
            .channelOption(.maxMessagesPerRead, value: 4)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 32 * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPQueryHandler(processor: processor, scope: scope))
                }
            }
    }

    private func tcpBootstrap(scope: DNSScope) -> ServerBootstrap {
        let processor = self.processor
        return ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(readTimeout: DNSServer.tcpIdleTimeout),
                        ByteToMessageHandler(LengthPrefixDecoder()),
                        TCPQueryHandler(processor: processor, scope: scope))
                }
            }
    }
}

/// The channels of one listener; closing it stops answering on its sockets.
public struct DNSListener: Sendable {
    public let channels: [any Channel]

    /// The port bound (useful when binding port 0 in tests).
    public var port: Int? { channels.first?.localAddress?.port }

    public func close() async {
        for channel in channels { try? await channel.close() }
    }
}
