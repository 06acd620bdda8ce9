import Foundation
import Synchronization

/// When each step of a change happened on this node, in seconds since 1970: for a local task, when
/// its view arrived, when the reconcile that made its namespace and veths ended, when it was
/// spawned and when the manager acknowledged it running; for a peer ("network/mac"), when the view
/// that brought it arrived and when its FDB entry was programmed. `GET /v1/timeline` serves it; the
/// convergence benchmark splits its latency with it. Bounded: the oldest keys go first.
public final class ConvergenceTimeline: Sendable {
    public static let limit = 2048
    private let state = Mutex<(marks: [String: [String: Double]], order: [String])>(([:], []))

    public init() {}

    /// Records `step` of `key` at `time` unless it was recorded already (the first time counts).
    public func mark(_ key: String, _ step: String, at time: Double = Date().timeIntervalSince1970) {
        state.withLock { state in
            if state.marks[key] == nil {
                state.order.append(key)
                if state.order.count > Self.limit {
                    let oldest = state.order.removeFirst()
                    state.marks[oldest] = nil
                }
            }
            if state.marks[key, default: [:]][step] == nil { state.marks[key, default: [:]][step] = time }
        }
    }

    public func step(_ key: String, _ step: String) -> Double? {
        state.withLock { $0.marks[key]?[step] }
    }

    /// `step` of every key under `prefix`, by the key without it.
    public func json(prefix: String, step: String) -> [UInt8] {
        let marks = state.withLock { $0.marks }
        var result: [String: Double] = [:]
        for (key, steps) in marks where key.hasPrefix(prefix) {
            if let time = steps[step] { result[String(key.dropFirst(prefix.count))] = time }
        }
        return (try? JSONEncoder().encode(result)).map(Array.init) ?? Array("{}".utf8)
    }

    public func json() -> [UInt8] {
        let marks = state.withLock { $0.marks }
        return (try? JSONEncoder().encode(marks)).map(Array.init) ?? Array("{}".utf8)
    }
}
