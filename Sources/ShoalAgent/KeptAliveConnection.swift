import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 connection to the manager kept open across requests (task reports, heartbeats),
/// one request at a time: no TCP and TLS handshake per report. A request that fails on a reused
/// connection before any answer (the manager closed it while idle) is sent once more on a new
/// one; any other failure reaches the caller, who retries as before, so nothing is lost.
public actor KeptAliveConnection {
    private let client: HTTPClient
    private var open: OpenConnection?
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Connections opened so far (one unless the manager closed one).
    private(set) var connectionsOpened = 0

    public init(_ client: HTTPClient) { self.client = client }

    deinit { open?.channel.close(promise: nil) }

    /// One request; the whole body is collected.
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws(ClientError)
        -> HTTPResult
    {
        await acquire()
        defer { release() }
        let head = client.requestHead(method, path, body: body, keepAlive: true)
        if let reused = open, reused.channel.isActive {
            do throws(ClientError) {
                return try await reused.send(head, body: body)
            } catch {
                discard(reused)
                guard case .stale = error else { throw error }
            }
        }
        let fresh = try await client.openKeptAlive()
        open = fresh
        connectionsOpened += 1
        do throws(ClientError) {
            return try await fresh.send(head, body: body)
        } catch {
            discard(fresh)
            throw error
        }
    }

    private func discard(_ connection: OpenConnection) {
        connection.channel.close(promise: nil)
        if open?.channel === connection.channel { open = nil }
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Hands the connection to the next waiter (it stays busy) or frees it.
    private func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }
}

/// An open channel and its response collector.
struct OpenConnection: Sendable {
    /// Longest wait for an answer before the connection is closed.
    static let answerTimeout = TimeAmount.seconds(30)
    let channel: any Channel
    let collector: NIOLoopBound<ResponseCollector>

    func send(_ head: HTTPRequestHead, body: [UInt8]?) async throws(ClientError) -> HTTPResult {
        let promise = channel.eventLoop.makePromise(of: HTTPResult.self)
        let collector = collector
        let channel = channel
        channel.eventLoop.execute {
            // Closed since the caller looked: nothing was sent, so it may go on a new connection.
            guard channel.isActive else { return promise.fail(ClientError.stale) }
            collector.value.expect(promise)
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            let written = channel.eventLoop.makePromise(of: Void.self)
            for part in parts { channel.write(part, promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: written)
            // A failed write never reaches the manager: sent again on a new connection.
            written.futureResult.whenFailure { _ in collector.value.fail(.stale) }
            // No answer in time: the close fails the request, so the caller is never stuck.
            let deadline = channel.eventLoop.scheduleTask(in: OpenConnection.answerTimeout) {
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError(error)
        }
    }
}

/// Collects one response at a time on the channel's event loop.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private var pending: EventLoopPromise<HTTPResult>?
    private var result = HTTPResult(status: 0, body: [])
    private var answered = false
    private var keepAlive = true

    func expect(_ promise: EventLoopPromise<HTTPResult>) {
        pending = promise
        result = HTTPResult(status: 0, body: [])
        answered = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            answered = true
            result.status = Int(head.status.code)
            keepAlive = head.isKeepAlive
        case .body(let buffer):
            result.body += buffer.readableBytesView
        case .end:
            let promise = pending
            pending = nil
            promise?.succeed(result)
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed before any answer: the request may not have been read; safe to send again.
        fail(answered ? .protocolError("the connection closed during the answer") : .stale)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The channel closing under a request (the manager's idle close racing it) is a stale
        // connection too; TLS and HTTP errors keep their own description.
        fail(!answered && error is ChannelError ? .stale : ClientError(error))
        context.close(promise: nil)
    }

    func fail(_ error: ClientError) {
        let promise = pending
        pending = nil
        promise?.fail(error)
    }
}

extension HTTPClient {
    /// A new connection whose pipeline ends in a `ResponseCollector`.
    func openKeptAlive() async throws(ClientError) -> OpenConnection {
        try await connect { channel in
            let collector = ResponseCollector()
            try channel.pipeline.syncOperations.addHandler(collector)
            return OpenConnection(
                channel: channel, collector: NIOLoopBound(collector, eventLoop: channel.eventLoop))
        }
    }
}
