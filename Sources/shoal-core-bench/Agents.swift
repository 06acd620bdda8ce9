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

    func record(node: String, line: [UInt8], at time: Double) {
        let watch = state.withLock { ledger in
            ledger.messages += 1
            ledger.bytes += line.count
            if line.starts(with: Array(#"{"objects":"#.utf8)) { ledger.completes += 1 }
            return ledger.watch.flatMap { $0.waiting.contains(node) ? $0.key : nil }
        }
        guard let watch, FeedScan.drains(watch, in: line) else { return }
        state.withLock { ledger in
            guard ledger.watch?.waiting.remove(node) != nil, ledger.watch?.waiting.isEmpty == true else {
                return
            }
            ledger.watch?.arrived = time
        }
    }
}

/// Reads what an agent needs from feed lines without decoding whole views (1,000 simulated agents
/// decoding every endpoint would measure JSON decoding, not the manager). Relies on the sorted
/// keys of the encoding.
enum FeedScan {
    /// (task id, desired state) of every task object in the line.
    static func tasks(in line: [UInt8]) -> [(id: String, desired: String)] {
        var found: [(String, String)] = []
        var from = 0
        let marker = Array(#"{"desiredState":""#.utf8)
        while let at = find(marker, in: line, from: from) {
            let desired = string(in: line, at: at + marker.count)
            let idMarker = Array(#","id":""#.utf8)
            guard let idAt = find(idMarker, in: line, from: at) else { break }
            found.append((string(in: line, at: idAt + idMarker.count), desired))
            from = idAt
        }
        return found
    }

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
/// It keeps only its own tasks, not the whole view (1,000 whole views would not fit in memory).
struct SimulatedAgent {
    let nodeID: String
    let manager: Manager
    let ledger: FeedLedger

    func run() async throws {
        let subscription = try await manager.feed(nodeID: nodeID, since: nil)
        var reported: [String: TaskState] = [:]
        for await line in subscription.lines {
            ledger.hold(line.count)
            defer { ledger.hold(-line.count) }
            ledger.record(node: nodeID, line: line, at: now())
            for (id, desired) in FeedScan.tasks(in: line) {
                let next: TaskState = desired == "shutdown" ? .shutdown : .running
                guard reported[id] != next else { continue }
                reported[id] = next
                _ = try? await manager.report(id, TaskStatusReport(nodeID: nodeID, state: next))
            }
        }
    }
}
