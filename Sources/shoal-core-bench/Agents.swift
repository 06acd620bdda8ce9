import Foundation
import ShoalCore
import ShoalModel
import Synchronization

/// What the simulated agents saw on their feeds, shared with the driver.
final class FeedLedger: Sendable {
    struct Watch {
        var key: [UInt8]
        var waiting: Set<String>
        var arrived: Double?
    }

    private let state = Mutex<(watch: Watch?, messages: Int, bytes: Int, completes: Int)>((nil, 0, 0, 0))
    /// Bytes of lines agents hold right now (received, not yet processed), and the most held at once.
    private let held = Mutex<(now: Int, peak: Int)>((0, 0))

    func hold(_ bytes: Int) {
        held.withLock {
            $0.now += bytes
            $0.peak = max($0.peak, $0.now)
        }
    }

    var heldBytes: (now: Int, peak: Int) { held.withLock { $0 } }

    /// Starts waiting for `key` to turn draining (or go away) on every feed in `nodes`.
    func watch(key: String, nodes: Set<String>) {
        state.withLock { $0.watch = Watch(key: Array(#""key":"\#(key)""#.utf8), waiting: nodes) }
    }

    /// The time the last awaited feed saw the change, once every one has.
    var watchDone: Double? { state.withLock { $0.watch?.waiting.isEmpty == true ? $0.watch?.arrived : nil } }

    var totals: (messages: Int, bytes: Int, completes: Int) {
        state.withLock { ($0.messages, $0.bytes, $0.completes) }
    }

    /// Counts one chunk of a feed; `whole` when it is a whole line (every message but a COMPLETE
    /// comes whole), which is where a watched change can be.
    func record(node: String, chunk: [UInt8], starts: Bool, at time: Double) {
        let ends = chunk.last == UInt8(ascii: "\n")
        let watch = state.withLock { ledger in
            if ends { ledger.messages += 1 }
            ledger.bytes += chunk.count
            if starts && chunk.starts(with: Array(#"{"objects":"#.utf8)) { ledger.completes += 1 }
            return ledger.watch.flatMap { $0.waiting.contains(node) ? $0.key : nil }
        }
        guard starts && ends, let watch, FeedScan.drains(watch, in: chunk) else { return }
        state.withLock { ledger in
            guard ledger.watch?.waiting.remove(node) != nil, ledger.watch?.waiting.isEmpty == true else {
                return
            }
            ledger.watch?.arrived = time
        }
    }
}

/// Finds the task objects in a feed's chunks as they arrive, holding only the tail of a chunk that
/// may begin one (a COMPLETE of 30 MB comes in parts; no agent here holds a whole line).
struct TaskScanner {
    private static let marker = Array(#"{"desiredState":""#.utf8)
    private static let idMarker = Array(#","id":""#.utf8)
    /// The end of the last chunk, from where a task object (or its marker) may go on.
    private var carry: [UInt8] = []

    var carried: Int { carry.count }

    /// (task id, desired state) of every task object that ends in this chunk.
    mutating func scan(_ chunk: [UInt8]) -> [(id: String, desired: String)] {
        let bytes = carry.isEmpty ? chunk : carry + chunk
        var found: [(String, String)] = []
        var from = 0
        var keep = max(0, bytes.count - (Self.marker.count - 1))
        while let at = FeedScan.find(Self.marker, in: bytes, from: from) {
            let idStart = FeedScan.find(Self.idMarker, in: bytes, from: at).map { $0 + Self.idMarker.count }
            guard let idStart, let idEnd = bytes[idStart...].firstIndex(of: UInt8(ascii: "\"")) else {
                keep = at
                break
            }
            found.append(
                (
                    String(decoding: bytes[idStart..<idEnd], as: UTF8.self),
                    FeedScan.string(in: bytes, at: at + Self.marker.count)
                ))
            from = idEnd
            keep = max(idEnd, keep)
        }
        carry = Array(bytes[keep...])
        return found
    }
}

/// Reads what an agent needs from feed bytes without decoding whole views (1,000 simulated agents
/// decoding every endpoint would measure JSON decoding, not the manager). Relies on the sorted
/// keys of the encoding.
enum FeedScan {
    /// True when the change of `key` in the line removes it or makes it draining.
    static func drains(_ key: [UInt8], in line: [UInt8]) -> Bool {
        guard let at = find(key, in: line, from: 0) else { return false }
        let rest = at + key.count
        if line[rest...].starts(with: Array(#","op":"remove""#.utf8)) { return true }
        let end = objectEnd(in: line, from: rest + #","object":"#.utf8.count)
        return find(Array(#""state":"draining""#.utf8), in: Array(line[rest..<end]), from: 0) != nil
    }

    static func find(_ pattern: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
        var index = from
        while index <= bytes.count - pattern.count {
            if bytes[index] == first && bytes[index..<index + pattern.count].elementsEqual(pattern) {
                return index
            }
            index += 1
        }
        return nil
    }

    static func string(in bytes: [UInt8], at start: Int) -> String {
        var end = start
        while end < bytes.count && bytes[end] != UInt8(ascii: "\"") { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The index after the JSON object that starts at `start`.
    static func objectEnd(in bytes: [UInt8], from start: Int) -> Int {
        var depth = 0
        var inString = false
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return index + 1 }
            }
            index += 1
        }
        return bytes.count
    }
}

/// One simulated agent: holds its node's feed and reports its tasks running (or stopped) as told.
/// It keeps only its own tasks, not the whole view (1,000 whole views would not fit in memory),
/// and scans each chunk as it arrives.
struct SimulatedAgent {
    let nodeID: String
    let manager: Manager
    let ledger: FeedLedger

    func run() async throws {
        let subscription = try await manager.feed(nodeID: nodeID, since: nil)
        var reported: [String: TaskState] = [:]
        var scanner = TaskScanner()
        var starts = true
        for await chunk in subscription.chunks {
            let held = chunk.count + scanner.carried
            ledger.hold(held)
            defer { ledger.hold(-held) }
            ledger.record(node: nodeID, chunk: chunk, starts: starts, at: now())
            starts = chunk.last == UInt8(ascii: "\n")
            // A socket read suspends; without this an agent reading a 30 MB COMPLETE keeps one of
            // the two cooperative threads until it is done, and heartbeats and the manager wait.
            await Task.yield()
            for (id, desired) in scanner.scan(chunk) {
                let next: TaskState = desired == "shutdown" ? .shutdown : .running
                guard reported[id] != next else { continue }
                reported[id] = next
                _ = try? await manager.report(id, TaskStatusReport(nodeID: nodeID, state: next))
            }
        }
    }
}
