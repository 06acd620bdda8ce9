import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import ShoalModel
import Testing

@testable import ShoalCore

/// A JSON body.
func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func decoded<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
}

/// Sends `GET path` to 127.0.0.1:port over a new TCP connection and hands `read` the response parts.
func withGET<Result: Sendable>(
    port: Int, path: String,
    _ read: (NIOAsyncChannelInboundStream<HTTPClientResponsePart>) async throws -> Result
) async throws -> Result {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(
        host: "127.0.0.1", port: port
    ) { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                wrappingChannelSynchronously: channel)
        }
    }
    return try await channel.executeThenClose { inbound, outbound in
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1")
        try await outbound.write(.head(head))
        try await outbound.write(.end(nil))
        return try await read(inbound)
    }
}

/// Reads a streamed NDJSON response over a real TCP connection until `enough` says so.
func readFeed(
    port: Int, path: String, enough: @escaping @Sendable ([FeedMessage]) -> Bool
) async throws -> (status: HTTPResponseStatus, contentType: String?, messages: [FeedMessage]) {
    try await withGET(port: port, path: path) { inbound in
        var status = HTTPResponseStatus.imATeapot
        var contentType: String?
        var pending = ""
        var messages: [FeedMessage] = []
        for try await part in inbound {
            switch part {
            case .head(let response):
                status = response.status
                contentType = response.headers.first(name: "content-type")
                if status != .ok { return (status, contentType, messages) }
            case .body(let buffer):
                pending += String(buffer: buffer)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = pending[..<newline]
                    pending = String(pending[pending.index(after: newline)...])
                    messages.append(try JSONDecoder().decode(FeedMessage.self, from: Data(line.utf8)))
                }
                if enough(messages) { return (status, contentType, messages) }
            case .end:
                return (status, contentType, messages)
            }
        }
        return (status, contentType, messages)
    }
}

/// One plain GET over a real TCP connection: status and body.
func httpGet(port: Int, path: String) async throws -> (status: HTTPResponseStatus, body: String) {
    try await withGET(port: port, path: path) { inbound in
        var status = HTTPResponseStatus.imATeapot
        var text = ""
        for try await part in inbound {
            switch part {
            case .head(let response): status = response.status
            case .body(let buffer): text += String(buffer: buffer)
            case .end: return (status, text)
            }
        }
        return (status, text)
    }
}
