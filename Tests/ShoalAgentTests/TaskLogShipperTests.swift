import Foundation
import ShoalModel
import Synchronization
import Testing

@testable import ShoalAgent

/// Reading a task's log file for `service logs`: tail, partial lines, bounds, following.
@Suite struct TaskLogShipperTests {
    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "shoal-log-\(UUID().uuidString).log"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func tailTakesTheLastCompleteLines() throws {
        let path = try file("one\ntwo\nthree\nunfinished")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (all, end, _) = TaskLogShipper.lastLines(of: path, tail: nil)
        #expect(all == ["one", "two", "three"])
        // Following resumes at the unfinished line.
        #expect(end == UInt64("one\ntwo\nthree\n".utf8.count))
        #expect(TaskLogShipper.lastLines(of: path, tail: 2).lines == ["two", "three"])
        #expect(TaskLogShipper.lastLines(of: path, tail: 0).lines == [])
        #expect(TaskLogShipper.lastLines(of: path + ".missing", tail: nil).lines == [])
    }

    @Test func longLinesAreCutAndChunksBounded() async throws {
        let long = String(repeating: "x", count: TaskLogShipper.lineLimit + 10)
        #expect(
            TaskLogShipper.split(Array((long + "\nb\n").utf8)).map(\.count) == [TaskLogShipper.lineLimit, 1])
        let sent = Mutex<[LogChunk]>([])
        let shipper = TaskLogShipper(
            dataDir: "/nonexistent", nodeName: "node1",
            post: { _, chunk in
                sent.withLock { $0.append(chunk) }
                return true
            })
        let lines = (0..<1_200).map { TaskLogLine(task: "t", node: "node1", time: 0, line: "\($0)") }
        #expect(await shipper.send(lines, subscription: "s", done: true))
        let chunks = sent.withLock { $0 }
        #expect(chunks.map(\.lines.count) == [500, 500, 200])
        #expect(chunks.map(\.done) == [false, false, true])
    }

    /// Follow: lines appended to the file are posted; a 410 (post returns false) stops it.
    @Test func followPostsNewLinesUntilTheReaderLeaves() async throws {
        let dir = NSTemporaryDirectory() + "shoal-logs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/tasks/t1", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/tasks/t1/output.log"
        try "old\n".write(toFile: log, atomically: true, encoding: .utf8)
        let sent = Mutex<[String]>([])
        let shipper = TaskLogShipper(
            dataDir: dir, nodeName: "node1",
            post: { _, chunk in
                sent.withLock { $0 += chunk.lines.map(\.line) }
                return !chunk.lines.contains { $0.line == "last" }
            })
        let serving = Task {
            await shipper.serve(
                LogSubscription(
                    id: "s", tasks: [LogTask(id: "t1", name: "web.1.t1")], tail: nil, follow: true))
        }
        let handle = try #require(FileHandle(forWritingAtPath: log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("new\nla".utf8))
        try await Task.sleep(for: .milliseconds(600))
        try handle.write(contentsOf: Data("st\n".utf8))
        try handle.close()
        await serving.value
        #expect(sent.withLock { $0 } == ["old", "new", "last"])
    }
}
