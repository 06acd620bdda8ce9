import Foundation
import ShoalModel
import Synchronization

/// Every node's feed: `FeedTables` behind one lock, and at most one subscriber per node. A commit
/// updates the tables and wakes only the subscribers whose view it touched. A subscriber builds
/// its next message when its connection asks for it, from the keys logged since what it last sent,
/// so commits that arrive while it is busy are coalesced into one INCREMENTAL and a slow agent
/// costs nothing while it is slow; one that fell behind the bounded logs gets a COMPLETE. Message
/// bytes are assembled outside the lock from objects encoded once per change.
final class FeedHub: Sendable {
    struct Subscriber {
        let token: Int
        /// The revision and the networks of the view sent so far.
        var sent: UInt64
        var sentNetworks: Set<String>
        /// A message to send before anything else (a resume's INCREMENTAL).
        var first: [UInt8]?
        var needsComplete = true
        var dirty = false
        var keepaliveDue = false
        /// The node was removed: send the last changes (its view empties), then end.
        var finishing = false
        var waiter: CheckedContinuation<Void, Never>?

        var hasWork: Bool { first != nil || needsComplete || dirty || keepaliveDue || finishing }
    }

    struct Hub {
        var tables = FeedTables()
        var started = false
        var identity = ""
        var subscribers: [String: Subscriber] = [:]
        var nextToken = 0
        var commitsSinceTrim = 0
    }

    private enum Step: Sendable {
        case line([UInt8])
        case complete(revision: UInt64, parts: [[String: [UInt8]]], identity: String)
        case incremental(from: UInt64, to: UInt64, changes: [String: [UInt8]?], identity: String)
        case wait, again, end
    }

    private let hub = Mutex(Hub())

    /// Reads the hub under its lock (statistics).
    func withHub<T: Sendable>(_ body: (Hub) -> T) -> T { hub.withLock { body($0) } }

    func setIdentity(_ identity: String) { hub.withLock { $0.identity = identity } }

    /// Follows one commit (the first call brings the whole state).
    func apply(_ batch: CommitBatch) {
        hub.withLock { hub in
            if batch.initial || !hub.started {
                hub.tables = FeedTables(revision: batch.revision, state: batch.after)
                hub.started = true
                return
            }
            let changed = hub.tables.apply(batch)
            // Now and then, drop logged keys every open feed has already sent (new feeds start now).
            hub.commitsSinceTrim += 1
            if hub.commitsSinceTrim >= 64 {
                hub.commitsSinceTrim = 0
                hub.tables.trimLogs(through: hub.subscribers.values.map(\.sent).min() ?? hub.tables.revision)
            }
            guard !changed.isEmpty || batch.changed.contains(where: { $0.kind == .node }) else { return }
            for (nodeID, var subscriber) in hub.subscribers {
                var touched = changed.contains(FeedTables.nodeTable(nodeID))
                if batch.after.nodes[nodeID] == nil {
                    subscriber.finishing = true
                    touched = true
                }
                if !touched {
                    touched = subscriber.sentNetworks.union(hub.tables.networks(of: nodeID)).contains {
                        changed.contains(FeedTables.networkTable($0))
                    }
                }
                guard touched else { continue }
                subscriber.dirty = true
                subscriber.waiter?.resume()
                subscriber.waiter = nil
                hub.subscribers[nodeID] = subscriber
            }
        }
    }

    /// Asks every feed for a keep-alive (sent only by those that are idle when they next ask).
    func keepaliveTick() {
        hub.withLock { hub in
            for nodeID in hub.subscribers.keys {
                hub.subscribers[nodeID]?.keepaliveDue = true
                hub.subscribers[nodeID]?.waiter?.resume()
                hub.subscribers[nodeID]?.waiter = nil
            }
        }
    }

    /// Opens the node's feed (ending the one it had); returns its token and the revision and state
    /// its view starts at. Its first message is a COMPLETE unless `setFirst` gives another.
    func subscribe(nodeID: String) throws(StoreError) -> (token: Int, revision: UInt64, state: ClusterState) {
        let opened: (Int, UInt64, ClusterState)? = hub.withLock { hub in
            guard hub.tables.cluster.nodes[nodeID] != nil else { return nil }
            hub.subscribers[nodeID]?.waiter?.resume()
            let token = hub.nextToken
            hub.nextToken += 1
            hub.subscribers[nodeID] = Subscriber(
                token: token, sent: hub.tables.revision, sentNetworks: hub.tables.networks(of: nodeID))
            return (token, hub.tables.revision, hub.tables.cluster)
        }
        guard let opened else { throw .notFound("no node \(nodeID)") }
        return opened
    }

    /// The feed starts with `line` (which leads its view to the revision it was opened at).
    func setFirst(_ line: [UInt8], nodeID: String, token: Int) {
        hub.withLock { hub in
            guard hub.subscribers[nodeID]?.token == token else { return }
            hub.subscribers[nodeID]?.first = line
            hub.subscribers[nodeID]?.needsComplete = false
        }
    }

    func cancel(nodeID: String, token: Int) {
        hub.withLock { hub in
            guard let subscriber = hub.subscribers[nodeID], subscriber.token == token else { return }
            subscriber.waiter?.resume()
            hub.subscribers[nodeID] = nil
        }
    }

    /// A node as of the last commit, read without waiting on the store (heartbeats).
    func node(_ id: String) -> Node? { hub.withLock { $0.tables.cluster.nodes[id] } }

    /// Open feeds, for tests.
    var subscriberCount: Int { hub.withLock { $0.subscribers.count } }

    /// A node's whole view as the feeds have it now, decoded, and its revision (tests compare it
    /// with `NodeView.compute`).
    func currentView(of nodeID: String) -> (revision: UInt64, objects: [String: FeedObject]) {
        let (revision, parts) = hub.withLock { ($0.tables.revision, $0.tables.view(of: nodeID)) }
        var objects: [String: FeedObject] = [:]
        for part in parts {
            for (key, bytes) in part {
                objects[key] = try? JSONDecoder().decode(FeedObject.self, from: Data(bytes))
            }
        }
        return (revision, objects)
    }

    /// The feed's next line, waiting until there is one; nil when the feed ended.
    func next(nodeID: String, token: Int) async -> [UInt8]? {
        while true {
            switch step(nodeID: nodeID, token: token) {
            case .line(let line): return line
            case .complete(let revision, let parts, let identity):
                return FeedBytes.complete(revision: revision, parts: parts, store: identity)
            case .incremental(let from, let to, let changes, let identity):
                return FeedBytes.incremental(from: from, to: to, changes: changes, store: identity)
            case .again: continue
            case .end: return nil
            case .wait:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        hub.withLock { hub in
                            guard var subscriber = hub.subscribers[nodeID], subscriber.token == token,
                                !subscriber.hasWork
                            else { return continuation.resume() }
                            subscriber.waiter = continuation
                            hub.subscribers[nodeID] = subscriber
                        }
                    }
                } onCancel: {
                    cancel(nodeID: nodeID, token: token)
                }
                if Task.isCancelled { return nil }
            }
        }
    }

    /// What the feed does next, decided under the lock; the bytes are assembled outside it.
    private func step(nodeID: String, token: Int) -> Step {
        hub.withLock { hub -> Step in
            guard var subscriber = hub.subscribers[nodeID], subscriber.token == token else { return .end }
            var ended = false
            defer { hub.subscribers[nodeID] = ended ? nil : subscriber }
            let tables = hub.tables
            if let first = subscriber.first {
                subscriber.first = nil
                return .line(first)
            }
            var changes: [String: [UInt8]?]?
            if subscriber.dirty && !subscriber.needsComplete {
                subscriber.dirty = false
                changes = tables.changes(
                    for: nodeID, since: subscriber.sent, sentNetworks: subscriber.sentNetworks)
                // Fell behind the logs: a COMPLETE.
                if changes == nil { subscriber.needsComplete = true }
            }
            if subscriber.needsComplete {
                subscriber.needsComplete = false
                subscriber.dirty = false
                subscriber.sent = tables.revision
                subscriber.sentNetworks = tables.networks(of: nodeID)
                return .complete(
                    revision: tables.revision, parts: tables.view(of: nodeID), identity: hub.identity)
            }
            if let changes {
                // Nothing for this view: `sent` stays, so the next INCREMENTAL starts where the agent is.
                guard !changes.isEmpty else { return .again }
                let from = subscriber.sent
                subscriber.sent = tables.revision
                subscriber.sentNetworks = tables.networks(of: nodeID)
                return .incremental(from: from, to: tables.revision, changes: changes, identity: hub.identity)
            }
            if subscriber.finishing {
                ended = true
                return .end
            }
            if subscriber.keepaliveDue {
                subscriber.keepaliveDue = false
                return .line(FeedBytes.keepalive(revision: subscriber.sent, store: hub.identity))
            }
            return .wait
        }
    }
}

/// Feed lines assembled from encoded objects, byte for byte what `FeedLine.encode` makes of the
/// same message (sorted keys), without decoding or encoding the objects again.
enum FeedBytes {
    static func complete(revision: UInt64, parts: [[String: [UInt8]]], store: String) -> [UInt8] {
        var objects: [(String, [UInt8])] = []
        for part in parts { objects.append(contentsOf: part.map { ($0.key, $0.value) }) }
        objects.sort { $0.0 < $1.0 }
        var line = Array(#"{"objects":["#.utf8)
        line.reserveCapacity(objects.reduce(64) { $0 + $1.1.count + 1 })
        for (index, object) in objects.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            line.append(contentsOf: object.1)
        }
        line.append(contentsOf: #"],"revision":\#(revision),"store":"#.utf8)
        line.append(contentsOf: string(store))
        line.append(contentsOf: #","type":"complete"}"#.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// Removals first, then upserts, each by key (as `feedDiff` orders them).
    static func incremental(from: UInt64, to: UInt64, changes: [String: [UInt8]?], store: String) -> [UInt8] {
        let removed = changes.filter { $0.value == nil }.keys.sorted()
        let upserted = changes.compactMap { key, value in value.map { (key, $0) } }.sorted { $0.0 < $1.0 }
        var line = Array(#"{"changes":["#.utf8)
        var first = true
        for key in removed {
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
            line.append(contentsOf: #"{"key":"#.utf8)
            line.append(contentsOf: string(key))
            line.append(contentsOf: #","op":"remove"}"#.utf8)
        }
        for (key, object) in upserted {
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
            line.append(contentsOf: #"{"key":"#.utf8)
            line.append(contentsOf: string(key))
            line.append(contentsOf: #","object":"#.utf8)
            line.append(contentsOf: object)
            line.append(contentsOf: #","op":"upsert"}"#.utf8)
        }
        line.append(contentsOf: #"],"from":\#(from),"store":"#.utf8)
        line.append(contentsOf: string(store))
        line.append(contentsOf: #","to":\#(to),"type":"incremental"}"#.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    static func keepalive(revision: UInt64, store: String) -> [UInt8] {
        var line = Array(#"{"revision":\#(revision),"store":"#.utf8)
        line.append(contentsOf: string(store))
        line.append(contentsOf: #","type":"keepalive"}"#.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// A JSON string literal.
    static func string(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0..<0x20:
                bytes.append(contentsOf: Array(String(format: "\\u%04x", byte).utf8))
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        return bytes
    }
}
