import Foundation
import ShoalModel

/// The agent's side of `service logs`: reads the manager's log subscriptions and answers each from
/// the tasks' log files (`<data dir>/tasks/<id>/output.log`, stdout and stderr together) with
/// `LogChunk`s, following new lines until the manager says nobody reads any more (410).
struct TaskLogShipper: Sendable {
    /// Bounds: a task's log is read from at most its last 4 MiB; a line is cut at 16 KiB; a chunk
    /// holds at most 500 lines and 512 KiB.
    static let readLimit = 4 << 20
    static let lineLimit = 16 << 10
    static let chunkLines = 500
    static let chunkBytes = 512 << 10
    /// How often a follow request looks for new lines, and posts an empty chunk when there were none
    /// (the answer says whether the reader is still there).
    static let pollSeconds = 0.25
    static let idleChunkSeconds = 2.0

    let dataDir: String
    let nodeName: String
    /// Posts a chunk; false when the manager answered 410 (or the request failed for good).
    let post: @Sendable (_ subscription: String, _ chunk: LogChunk) async -> Bool

    func logFile(_ taskID: String) -> String { dataDir + "/tasks/" + taskID + "/output.log" }

    func serve(_ subscription: LogSubscription) async {
        var offsets: [String: UInt64] = [:]
        var pending: [TaskLogLine] = []
        for task in subscription.tasks {
            let (lines, end, modified) = Self.lastLines(of: logFile(task.id), tail: subscription.tail)
            offsets[task.id] = end
            pending += lines.map {
                TaskLogLine(task: task.name, node: nodeName, time: modified, line: $0)
            }
        }
        guard await send(pending, subscription: subscription.id, done: !subscription.follow) else { return }
        guard subscription.follow else { return }
        var remainders: [String: [UInt8]] = [:]
        var idle = 0.0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(Self.pollSeconds))
            var fresh: [TaskLogLine] = []
            let now = Date().timeIntervalSince1970
            for task in subscription.tasks {
                let (bytes, end) = Self.read(logFile(task.id), from: offsets[task.id] ?? 0)
                offsets[task.id] = end
                guard !bytes.isEmpty else { continue }
                var text = remainders[task.id, default: []] + bytes
                // A line not yet ended waits for its end (a task may write it in pieces).
                let cut = (text.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
                remainders[task.id] = Array(text[cut...])
                text.removeSubrange(cut...)
                fresh += Self.split(text).map {
                    TaskLogLine(task: task.name, node: nodeName, time: now, line: $0)
                }
            }
            idle += Self.pollSeconds
            guard !fresh.isEmpty || idle >= Self.idleChunkSeconds else { continue }
            idle = 0
            guard await send(fresh, subscription: subscription.id, done: false) else { return }
        }
    }

    /// Sends lines in bounded chunks (the last one carries `done`); false when the reader is gone.
    func send(_ lines: [TaskLogLine], subscription: String, done: Bool) async -> Bool {
        var chunk: [TaskLogLine] = []
        var bytes = 0
        for line in lines {
            if chunk.count >= Self.chunkLines || bytes + line.line.utf8.count > Self.chunkBytes {
                guard await post(subscription, LogChunk(lines: chunk, done: false)) else { return false }
                chunk = []
                bytes = 0
            }
            chunk.append(line)
            bytes += line.line.utf8.count + 100
        }
        return await post(subscription, LogChunk(lines: chunk, done: done))
    }

    /// The last `tail` lines (all when nil) from the last `readLimit` bytes, the file's end offset
    /// and modification time. A missing file (a task that never started here) has no lines.
    static func lastLines(of path: String, tail: Int?) -> (lines: [String], end: UInt64, modified: Double) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.uint64Value
        else { return ([], 0, 0) }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let start = size > UInt64(readLimit) ? size - UInt64(readLimit) : 0
        var (bytes, end) = read(path, from: start, upTo: size)
        // Cut off a partial first line when reading from the middle, and an unfinished last line.
        if start > 0, let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            bytes.removeSubrange(...newline)
        }
        if let last = bytes.lastIndex(of: UInt8(ascii: "\n")) {
            end -= UInt64(bytes.count - last - 1)
            bytes.removeSubrange((last + 1)...)
        } else {
            end -= UInt64(bytes.count)
            bytes = []
        }
        let lines = split(bytes)
        return (tail.map { Array(lines.suffix($0)) } ?? lines, end, modified)
    }

    /// The bytes from `offset` to the end (or `limit`) and the offset after them.
    static func read(_ path: String, from offset: UInt64, upTo limit: UInt64? = nil) -> ([UInt8], UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ([], offset) }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return ([], offset) }
        // A file that shrank (truncated by hand) is read again from its start.
        let from = offset > size ? 0 : offset
        let to = min(size, limit ?? size, from + UInt64(readLimit))
        guard to > from, (try? handle.seek(toOffset: from)) != nil,
            let data = try? handle.read(upToCount: Int(to - from))
        else { return ([], from) }
        return (Array(data), from + UInt64(data.count))
    }

    /// Complete lines (each ended by a newline) as strings, cut at `lineLimit` bytes.
    static func split(_ bytes: [UInt8]) -> [String] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0.prefix(lineLimit), as: UTF8.self)
        }
    }
}
