import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where and how to reach the manager.
public enum Endpoint: Sendable {
    /// TLS over TCP; the handler decides what is verified (pinned CA, mutual TLS, nothing).
    case tls(host: String, port: Int, handler: @Sendable () throws -> NIOSSLClientHandler)
    /// The manager's local admin socket (plain HTTP; the file mode is the authentication).
    case unixSocket(path: String)
    /// Plain HTTP (`--insecure-dev` only).
    case plain(host: String, port: Int)
}

/// A failed call to the manager; the description is what the CLI prints.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case tls(String)
    case http(status: Int, reason: String)
    case protocolError(String)
    /// A kept-alive connection closed before any answer: the request may be sent again.
    case stale

    /// A failure of a connection's channel, as the client reports it.
    init(_ error: any Error) {
        switch error {
        case let error as ClientError: self = error
        case let error as NIOSSLError: self = .tls("\(error)")
        case let error as BoringSSLError: self = .tls("\(error)")
        default: self = .protocolError("\(error)")
        }
    }

    public var description: String {
        switch self {
        case .connect(let reason): return "cannot connect to the manager: \(reason)"
        case .tls(let reason): return "TLS with the manager failed: \(reason)"
        case .http(let status, let reason): return "manager answered \(status): \(reason)"
        case .protocolError(let reason): return "bad answer from the manager: \(reason)"
        case .stale: return "the manager closed the connection before answering"
        }
    }
}

/// A response: status and body bytes.
public struct HTTPResult: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small HTTP/1.1 client: one connection per call (`connection: close`), over TLS, a unix
/// socket or plain TCP (`KeptAliveConnection` reuses one). Streams (the feed) deliver their body line by line.
public struct HTTPClient: Sendable {
    public let endpoint: Endpoint

    public init(_ endpoint: Endpoint) { self.endpoint = endpoint }

    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    func connect() async throws(ClientError) -> Connection {
        try await connect { channel in try Connection(wrappingChannelSynchronously: channel) }
    }

    /// A new connection with TLS (for `.tls`) and HTTP/1.1 client handlers; `finish` completes
    /// the pipeline on the channel's event loop.
    func connect<Output: Sendable>(_ finish: @escaping @Sendable (any Channel) throws -> Output)
        async throws(ClientError) -> Output
    {
        let endpoint = endpoint
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
        let initialize: @Sendable (any Channel) -> EventLoopFuture<Output> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if case .tls(_, _, let handler) = endpoint {
                    try channel.pipeline.syncOperations.addHandler(try handler())
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try finish(channel)
            }
        }
        do {
            switch endpoint {
            case .tls(let host, let port, _), .plain(let host, let port):
                return try await bootstrap.connect(host: host, port: port, channelInitializer: initialize)
            case .unixSocket(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initialize)
            }
        } catch {
            throw .connect("\(error)")
        }
    }

    /// The request's head: `connection: close` unless the connection is kept for more requests.
    func requestHead(_ method: HTTPMethod, _ path: String, body: [UInt8]?, keepAlive: Bool) -> HTTPRequestHead
    {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "host", value: hostHeader)
        if !keepAlive { head.headers.add(name: "connection", value: "close") }
        head.headers.add(name: "content-length", value: "\(body?.count ?? 0)")
        if body != nil { head.headers.add(name: "content-type", value: "application/json") }
        return head
    }

    var hostHeader: String {
        switch endpoint {
        case .tls(let host, let port, _), .plain(let host, let port): return "\(host):\(port)"
        case .unixSocket: return "localhost"
        }
    }

    /// One request; the whole body is collected.
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws(ClientError)
        -> HTTPResult
    {
        var collected: [UInt8] = []
        let status = try await exchange(method, path, body: body) { buffer in
            collected += buffer.readableBytesView
        }
        return HTTPResult(status: status, body: collected)
    }

    /// A streaming GET: `onLine` gets each newline-terminated line of the body; returns the status
    /// when the stream ends (the manager closed it or the connection dropped).
    public func stream(_ path: String, onLine: @escaping @Sendable (String) async -> Void)
        async throws(ClientError)
        -> Int
    {
        let pending = LineBuffer()
        return try await exchange(.GET, path, body: nil) { buffer in
            for line in pending.append(buffer.readableBytesView) { await onLine(line) }
        }
    }

    private func exchange(
        _ method: HTTPMethod, _ path: String, body: [UInt8]?,
        onBody: (ByteBuffer) async -> Void
    ) async throws(ClientError) -> Int {
        let connection = try await connect()
        let request = requestHead(method, path, body: body, keepAlive: false)
        do {
            return try await connection.executeThenClose { inbound, outbound in
                // One write for the whole request: the manager may answer and close as soon as it has
                // read it, and a separate write of the end would then fail on the closed channel.
                var parts: [HTTPClientRequestPart] = [.head(request)]
                if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                parts.append(.end(nil))
                try await outbound.write(contentsOf: parts)
                var status: Int?
                for try await part in inbound {
                    switch part {
                    case .head(let response): status = Int(response.status.code)
                    case .body(let buffer): await onBody(buffer)
                    case .end: return status ?? 0
                    }
                }
                guard let status else {
                    throw ClientError.protocolError("the connection closed without an answer")
                }
                return status
            }
        } catch {
            throw ClientError(error)
        }
    }
}

/// Splits a byte stream into lines. Linear in the bytes: each byte is searched once (a partial line
/// is not rescanned when more of it arrives) and consumed lines are dropped in one step per chunk
/// (a 30 MB COMPLETE arrives in thousands of chunks).
final class LineBuffer: @unchecked Sendable {
    // Used only from one exchange's sequential body callback.
    private var pending: [UInt8] = []
    /// Where the next line starts, and how far the current one was searched for a newline.
    private var lineStart = 0
    private var searched = 0

    func append(_ bytes: some Sequence<UInt8>) -> [String] {
        pending.append(contentsOf: bytes)
        var lines: [String] = []
        while let newline = pending[searched...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[lineStart..<newline], as: UTF8.self))
            lineStart = newline + 1
            searched = lineStart
        }
        searched = pending.count
        if lineStart > 0 {
            pending.removeFirst(lineStart)
            searched -= lineStart
            lineStart = 0
            // A long line (a COMPLETE) leaves its capacity behind: give it back.
            if pending.capacity > 1 << 20 && pending.count < pending.capacity / 4 {
                var kept: [UInt8] = []
                kept.reserveCapacity(pending.count)
                kept.append(contentsOf: pending)
                pending = kept
            }
        }
        return lines
    }

    /// Bytes the buffer holds on to (its capacity).
    var heldBytes: Int { pending.capacity }
}

extension HTTPResult {
    /// Decodes a 2xx JSON body; any other status becomes `ClientError.http` with the manager's reason.
    public func decode<T: Decodable>(_ type: T.Type) throws(ClientError) -> T {
        try check()
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw .protocolError("cannot decode \(T.self): \(error)")
        }
    }

    /// Throws for a non-2xx status, with the `reason` of the manager's error body.
    public func check() throws(ClientError) {
        guard (200..<300).contains(status) else {
            struct Reason: Decodable {
                var field: String?
                var reason: String
            }
            let reason = (try? JSONDecoder().decode(Reason.self, from: Data(body))).map { error in
                (error.field.map { "\($0): " } ?? "") + error.reason
            }
            throw .http(status: status, reason: reason ?? text)
        }
    }
}
