import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import ShoalCore

/// Collects what a server sends until it closes the connection.
final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received = Mutex("")
    let closed: EventLoopPromise<Void>

    init(closed: EventLoopPromise<Void>) { self.closed = closed }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let text = String(buffer: unwrapInboundIn(data))
        received.withLock { $0 += text }
    }

    func channelInactive(context: ChannelHandlerContext) { closed.succeed() }
}

/// Issue #13: HTTP/1.0 closes, and the manager stops promptly on SIGTERM.
@Suite struct ShutdownAndHTTP10Tests {
    /// Sends `request` over a new TCP connection; returns what came back and whether the server
    /// closed the connection within `seconds`.
    static func exchange(port: Int, _ request: String, seconds: Double = 3) async throws -> (String, Bool) {
        let group = MultiThreadedEventLoopGroup.singleton
        let closed = group.next().makePromise(of: Void.self)
        let collector = Collector(closed: closed)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in channel.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        // Past the deadline the test closes the connection itself, and says the server did not.
        let timedOut = Mutex(false)
        let timer = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            timedOut.withLock { $0 = true }
            channel.close(promise: nil)
        }
        try? await closed.futureResult.get()
        timer.cancel()
        let didClose = !timedOut.withLock { $0 }
        return (collector.received.withLock { $0 }, didClose)
    }

    @Test func anHTTP10RequestGetsItsAnswerAndTheConnectionCloses() async throws {
        let h = try await Harness.make()
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = ManagerAPI.application(manager: h.manager, host: "127.0.0.1", port: 0) { port in
            continuation.yield(port)
        }
        let server = Task { try await GracefulServers.run([app], logger: Logger(label: "test.http10")) }
        defer { server.cancel() }
        var port = 0
        for await bound in stream {
            port = bound
            break
        }
        let (answer, closed) = try await Self.exchange(port: port, "GET /v1/info HTTP/1.0\r\n\r\n")
        #expect(answer.contains("200 OK"), "\(answer)")
        #expect(closed, "an HTTP/1.0 connection stayed open")
    }

    @Test func sigtermStopsTheManagerPromptlyWithAFeedOpen() async throws {
        let path = ShoaldManagerTests.shoaldPath()
        try #require(FileManager.default.isExecutableFile(atPath: path), "build shoald first")
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["manager", "--data-dir", directory, "--listen", "127.0.0.1:0", "--insecure-dev"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var log = ""
        var port: Int?
        while port == nil {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
            if let range = log.range(of: "shoald manager listening on 127.0.0.1:") {
                port = Int(log[range.upperBound...].prefix { $0.isNumber })
            }
        }
        let bound = try #require(port, "\(log)")
        let node = #"{"name":"n1","address":"192.168.0.1"}"#
        let registered = try await Self.exchange(
            port: bound,
            "POST /v1/nodes/register HTTP/1.1\r\nHost: x\r\nContent-Length: \(node.utf8.count)\r\nConnection: close\r\n\r\n\(node)"
        )
        #expect(registered.0.contains("200 OK"), "\(registered.0)")
        // A feed stream held open, as every agent holds one.
        let feed = Task {
            try await Self.exchange(
                port: bound, "GET /v1/nodes/n1/feed HTTP/1.1\r\nHost: x\r\n\r\n", seconds: 10)
        }
        defer { feed.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        let start = Date()
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning && Date().timeIntervalSince(start) < 15 {
            try await Task.sleep(for: .milliseconds(50))
        }
        let took = Date().timeIntervalSince(start)
        #expect(!process.isRunning, "still running \(took) s after SIGTERM")
        // The drain is bounded at 2 s (--stop-timeout); the rest is slack for a loaded machine, and
        // still far from the minutes a hung stop takes before systemd's SIGKILL.
        #expect(took < 8, "took \(took) s to stop")
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
}
