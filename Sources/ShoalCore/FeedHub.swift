import Foundation
import ShoalModel
import Synchronization

/// Every node's feed: `FeedTables` behind one lock, and at most one subscriber per node. A commit
/// updates the tables and wakes only the subscribers whose view it touched. A subscriber builds
/// its next message when its connection asks for it, from the keys logged since what it last sent,
/// so commits that arrive while it is busy are coalesced into one INCREMENTAL and a slow agent
/// costs nothing while it is slow; one that fell behind the bounded logs gets a COMPLETE. Message
/// bytes are assembled outside the lock from objects encoded once per change; a COMPLETE is handed
/// out in parts of about `partLimit` bytes (`CompleteCursor`), so what a feed holds does not grow
/// with its view.
final class FeedHub: Sendable {
    struct Subscriber {
        let token: Int
        /// The revision and the networks of the view sent so far.
        var sent: UInt64
        var sentNetworks: Set<String>
        /// A message to send before anything else (a resume's INCREMENTAL).
        var first: [UInt8]?
        var needsComplete = true
        /// A COMPLETE being handed out in parts.
        var complete: CompleteCursor?
        /// Bytes of the last line or part handed to the connection (held until it asks for more).
        var handedOut = 0
        var dirty = false
        var keepaliveDue = false
        /// The node was removed: send the last changes (its view empties), then end.
        var finishing = false
        var waiter: CheckedContinuation<Void, Never>?

        var hasWork: Bool {
            first != nil || needsComplete || complete != nil || dirty || keepaliveDue || finishing
        }
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
        case incremental(from: UInt64, to: UInt64, changes: [String: [UInt8]?], identity: String)
        case wait, again, end
    }

    private let hub = Mutex(Hub())
    /// About how many bytes of a COMPLETE one part holds (tests make it small).
    let partLimit = Atomic<Int>(64 * 1024)
    /// The largest INCREMENTAL a feed is handed whole; larger changes go as a COMPLETE in parts, so
    /// what a feed holds stays bounded (1,000 feeds x 256 KiB) however much changes at once.
    let incrementalLimit = Atomic<Int>(256 * 1024)

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
            // The changed tables by kind, looked up per feed without building its networks (a set
            // per feed per commit was most of this loop's cost with 1,000 feeds; issue 12).
            let nodePrefix = FeedTables.nodeTable("")
            let networkPrefix = FeedTables.networkTable("")
            let changedNodes = Set(
                changed.filter { $0.hasPrefix(nodePrefix) }.map { String($0.dropFirst(nodePrefix.count)) })
            let changedNetworks = changed.filter { $0.hasPrefix(networkPrefix) }.map {
                String($0.dropFirst(networkPrefix.count))
            }
            for (nodeID, var subscriber) in hub.subscribers {
                var touched = changedNodes.contains(nodeID)
                if batch.after.nodes[nodeID] == nil {
                    subscriber.finishing = true
                    touched = true
                }
                if !touched {
                    touched = changedNetworks.contains { networkID in
                        subscriber.sentNetworks.contains(networkID)
                            || hub.tables.isMember(nodeID, of: networkID)
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

    /// A node's whole view as the feeds have it now, decoded from a COMPLETE written in parts, and
    /// its revision (tests compare it with `NodeView.compute`).
    func currentView(of nodeID: String) -> (revision: UInt64, objects: [String: FeedObject]) {
        hub.withLock { hub in
            let tables = hub.tables
            var cursor = CompleteCursor(
                revision: tables.revision, store: "", tables: tables.viewTables(of: nodeID))
            var line: [UInt8] = []
            while !cursor.done { line += cursor.nextPart(from: tables.sources(cursor.tables), limit: 4096) }
            var view = FeedView()
            if let message = try? JSONDecoder().decode(FeedMessage.self, from: Data(line)) {
                _ = view.apply(message)
            }
            return (tables.revision, view.objects)
        }
    }

    /// The feed's next line, or part of a COMPLETE, waiting until there is one; nil when the feed ended.
    func next(nodeID: String, token: Int) async -> [UInt8]? {
        while true {
            switch step(nodeID: nodeID, token: token) {
            case .line(let line): return line
            case .incremental(let from, let to, let changes, let identity):
                let line = FeedBytes.incremental(from: from, to: to, changes: changes, store: identity)
                hub.withLock { hub in
                    guard hub.subscribers[nodeID]?.token == token else { return }
                    hub.subscribers[nodeID]?.handedOut = line.count
                }
                return line
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

    /// The next whole line from a feed's parts; nil when the feed ended.
    static func wholeLine(_ next: () async -> [UInt8]?) async -> [UInt8]? {
        var line: [UInt8] = []
        while let part = await next() {
            line += part
            if part.last == UInt8(ascii: "\n") { return line }
        }
        return nil
    }

    /// What the feed does next, decided under the lock; the bytes are assembled outside it.
    private func step(nodeID: String, token: Int) -> Step {
        hub.withLock { hub -> Step in
            guard var subscriber = hub.subscribers[nodeID], subscriber.token == token else { return .end }
            var ended = false
            defer { hub.subscribers[nodeID] = ended ? nil : subscriber }
            let tables = hub.tables
            // The connection asks again: it wrote what it was handed.
            subscriber.handedOut = 0
            func handOut(_ line: [UInt8]) -> Step {
                subscriber.handedOut = line.count
                return .line(line)
            }
            func nextPart(_ cursor: CompleteCursor) -> Step {
                var cursor = cursor
                let part = cursor.nextPart(
                    from: tables.sources(cursor.tables), limit: partLimit.load(ordering: .relaxed))
                subscriber.complete = cursor.done ? nil : cursor
                return handOut(part)
            }
            // A COMPLETE under way goes on before anything else: it is one line.
            if let cursor = subscriber.complete { return nextPart(cursor) }
            if let first = subscriber.first {
                subscriber.first = nil
                return handOut(first)
            }
            var changes: [String: [UInt8]?]?
            if subscriber.dirty && !subscriber.needsComplete {
                subscriber.dirty = false
                // Fell behind the logs, or changes too large to hand out as one line (a node
                // joining networks of thousands of endpoints): a COMPLETE, in parts. A removed
                // node's feed still ends with its INCREMENTAL.
                changes = tables.changes(
                    for: nodeID, since: subscriber.sent, sentNetworks: subscriber.sentNetworks,
                    byteLimit: subscriber.finishing ? .max : incrementalLimit.load(ordering: .relaxed))
                if changes == nil { subscriber.needsComplete = true }
            }
            if subscriber.needsComplete {
                subscriber.needsComplete = false
                subscriber.dirty = false
                subscriber.sent = tables.revision
                subscriber.sentNetworks = tables.networks(of: nodeID)
                return nextPart(
                    CompleteCursor(
                        revision: tables.revision, store: hub.identity, tables: tables.viewTables(of: nodeID))
                )
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
                return handOut(FeedBytes.keepalive(revision: subscriber.sent, store: hub.identity))
            }
            return .wait
        }
    }
}

/// Feed lines assembled from encoded objects, byte for byte what `FeedLine.encode` makes of the
/// same message (sorted keys), without decoding or encoding the objects again.
enum FeedBytes {
    /// About the bytes one change adds to an INCREMENTAL.
    static func changeSize(key: String, object: [UInt8]?) -> Int {
        key.utf8.count + 40 + (object?.count ?? 0)
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
