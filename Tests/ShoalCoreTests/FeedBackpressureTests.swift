import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Counts what a server sends; never keeps it.
final class ByteCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let count = Atomic<Int>(0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count.add(unwrapInboundIn(data).readableBytes, ordering: .relaxed)
    }
}

/// `shoald manager --insecure-dev` in a process of its own, its output in a file (a pipe nobody
/// reads would block it once full).
struct ShoaldManagerProcess {
    let process: Process
    let port: Int
    let directory: String

    static func start(_ extra: [String] = []) async throws -> ShoaldManagerProcess {
        let path = ShoaldManagerTests.shoaldPath()
        try #require(FileManager.default.isExecutableFile(atPath: path), "build shoald first")
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let logPath = directory + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments =
            ["manager", "--data-dir", directory + "/data", "--listen", "127.0.0.1:0", "--insecure-dev"]
            + extra
        // Large blocks are mapped and unmapped, so RSS follows what is in use rather than what
        // glibc's arenas keep after a free.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["MALLOC_MMAP_THRESHOLD_": "131072"], uniquingKeysWith: { $1 })
        process.standardError = log
        process.standardOutput = log
        try process.run()
        let started = Date()
        while process.isRunning && Date().timeIntervalSince(started) < 60 {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "shoald manager listening on 127.0.0.1:"),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            {
                return ShoaldManagerProcess(process: process, port: port, directory: directory)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        throw TestFailure("shoald manager did not start: \(text)")
    }

    /// Kills the manager without waiting for it: `waitUntilExit` blocks a cooperative thread, and
    /// hangs for good when another part of the test process reaped the child first.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: directory + ".log")
    }

    /// Resident memory of the manager process (VmRSS), in bytes.
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }

    /// One request with a JSON body over its own connection; the whole response as text.
    func post(_ path: String, _ json: String) async throws -> String {
        let request =
            "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        let (answer, _) = try await ShutdownAndHTTP10Tests.exchange(port: port, request, seconds: 60)
        try #require(answer.hasPrefix("HTTP/1.1 20"), "\(path): \(answer.prefix(300))")
        return answer
    }

    /// Opens `GET /v1/nodes/<node>/feed`. A reading feed counts the bytes it gets; a stalled one
    /// never reads (autoRead off, a small receive buffer), so the TCP window closes.
    func openFeed(node: String, reading: Bool) async throws -> (Channel, ByteCounter) {
        let counter = ByteCounter()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.pipeline.addHandler(counter) }
        if !reading {
            bootstrap = bootstrap.channelOption(ChannelOptions.autoRead, value: false)
                .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096)
        }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(
            ByteBuffer(string: "GET /v1/nodes/\(node)/feed HTTP/1.1\r\nHost: x\r\n\r\n")
        ).get()
        return (channel, counter)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Issue #13, limits: a feed client that stops reading must not grow the manager's memory. The
/// feed is pulled: the manager makes a feed's next line only when the connection has written the
/// last one, so a stalled client holds at most one line and the keys logged since (shared, bounded).
@Suite(.serialized) struct FeedBackpressureTests {
    /// A service spec of about 700 KB: its object goes to every node on network `big` at each update.
    static func fatService(_ round: Int) -> String {
        let aliases = (0..<11_000).map { "\"r\(round)-\($0)-\(String(repeating: "a", count: 48))\"" }
        return #"{"name":"fat","replicas":0,"command":["x"],"networks":[{"target":"big","aliases":["#
            + aliases.joined(separator: ",") + "]}]}"
    }

    /// The object's `version` in a response.
    static func version(in answer: String) throws -> Int {
        let range = try #require(answer.range(of: #""version":"#))
        return try #require(Int(answer[range.upperBound...].prefix { $0.isNumber }))
    }

    @Test func aFeedClientThatStopsReadingKeepsTheManagersMemoryFlat() async throws {
        let manager = try await ShoaldManagerProcess.start(["--heartbeat-period", "300"])
        defer { manager.stop() }
        // Twenty agents that stop reading, and one that reads.
        let stalledNodes = (0..<20).map { "stalled\($0)" }
        for (index, name) in (stalledNodes + ["reader"]).enumerated() {
            _ = try await manager.post(
                "/v1/nodes/register", #"{"name":"\#(name)","address":"192.168.0.\#(index + 1)"}"#)
        }
        _ = try await manager.post("/v1/networks", #"{"name":"big"}"#)
        // One task on each node puts every node on `big`.
        _ = try await manager.post(
            "/v1/services",
            #"{"name":"anchor","mode":"global","command":["x"],"networks":[{"target":"big"}]}"#)
        var version = try Self.version(in: try await manager.post("/v1/services", Self.fatService(0)))
        var stalled: [Channel] = []
        defer { for channel in stalled { channel.close(promise: nil) } }
        for name in stalledNodes { stalled.append(try await manager.openFeed(node: name, reading: false).0) }
        let (reader, received) = try await manager.openFeed(node: "reader", reading: true)
        defer { reader.close(promise: nil) }

        /// Updates `fat` and waits until the reading feed got the change.
        func update(_ round: Int) async throws {
            let before = received.count.load(ordering: .relaxed)
            version = try Self.version(
                in: try await manager.post(
                    "/v1/services/fat/update?version=\(version)", Self.fatService(round)))
            let start = Date()
            while received.count.load(ordering: .relaxed) < before + 500_000 {
                try #require(Date().timeIntervalSince(start) < 30, "the reading feed got no update \(round)")
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        // Warm up (the stalled connections fill, the allocator's arenas reach their working size).
        for round in 1...4 { try await update(round) }
        let before = try manager.residentBytes()
        let sentBefore = received.count.load(ordering: .relaxed)
        var peak = before
        for round in 5...16 {
            try await update(round)
            peak = max(peak, try manager.residentBytes())
        }
        let due = (received.count.load(ordering: .relaxed) - sentBefore) * stalled.count
        let growth = peak - before
        // The stalled feeds were due what the reading one got: a queue per feed would hold it all.
        #expect(due > 100_000_000, "the stalled feeds were due only \(due) bytes")
        #expect(
            growth < due / 3,
            "manager RSS grew \(growth >> 20) MiB (from \(before >> 20) MiB) while stalled feeds were due \(due >> 20) MiB"
        )
        print(
            "feed backpressure: RSS \(before >> 20) -> peak \(peak >> 20) MiB; stalled feeds due \(due >> 20) MiB"
        )
    }
}
