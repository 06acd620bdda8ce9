import Dispatch
import Foundation
import GRDB
import ShoalModel
import Synchronization

/// Makes the store's writes durable on a thread of its own and publishes them. The store's actor
/// only applies writes and queues their changes here; while SQLite encodes, writes and syncs one
/// group of writes, the next ones queue and go together in the next transaction (group commit).
/// Before, the actor waited for each commit's encoding and disk sync, and every writer with it
/// (issue 12). Groups are written in order; once one is synced the observers learn it, in order,
/// and then its writers are answered.
final class CommitWriter: Sendable {
    /// One write's changes, the revision it made and the state it left.
    struct Entry: Sendable {
        var changes: [PendingChange]
        var revision: UInt64
        var state: ClusterState
    }

    /// The last durable commit, and who follows commits.
    private struct Published {
        var revision: UInt64
        var state: ClusterState
        var subscribers: [Int: AsyncStream<UInt64>.Continuation] = [:]
        var nextSubscriber = 0
    }

    private struct Queue {
        var entries: [Entry] = []
        var draining = false
        /// The last group on disk.
        var storedRevision: UInt64
        var storedState: ClusterState
        /// Writes on disk and not yet published; published together, however many groups.
        var unpublished: [Entry] = []
        var publishing = false
        /// The last group published (observers told, writers answered).
        var durableRevision: UInt64
        var waiters: [(revision: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// A commit failed: what was queued after it was built on it and fails too, until the
        /// store has gone back to the last state on disk (`recover`).
        var failure: StoreError?
        /// The change log holds every change after this revision.
        var compactedThrough: UInt64
    }

    let database: DatabaseQueue
    private let retainedRevisions: UInt64
    private let thread = DispatchQueue(label: "shoal.store.commit")
    /// Tells the observers and answers the writers of what is on disk while the next group is written.
    private let publisher = DispatchQueue(label: "shoal.store.publish")
    private let queue: Mutex<Queue>
    private let published: Mutex<Published>
    /// Held while observers are told of a commit (and while one is added), so each observer learns
    /// every commit after its initial state, once and in order.
    private let observing = Mutex<[@Sendable (CommitBatch) -> Void]>([])

    init(
        database: DatabaseQueue, revision: UInt64, state: ClusterState, compactedThrough: UInt64,
        retainedRevisions: UInt64
    ) {
        self.database = database
        self.retainedRevisions = retainedRevisions
        queue = Mutex(
            Queue(
                storedRevision: revision, storedState: state, durableRevision: revision,
                compactedThrough: compactedThrough))
        published = Mutex(Published(revision: revision, state: state))
    }

    /// The last durable commit.
    var current: (revision: UInt64, state: ClusterState) { published.withLock { ($0.revision, $0.state) } }

    private var compactedThrough: UInt64 { queue.withLock { $0.compactedThrough } }

    /// Queues one write's changes for the next transaction. Throws while a failed commit has not
    /// been recovered from: the write was built on what that commit lost.
    func enqueue(_ changes: [PendingChange], revision: UInt64, state: ClusterState) throws(StoreError) {
        let start: Bool = try queue.withLock { (queue) throws(StoreError) -> Bool in
            if let failure = queue.failure { throw failure }
            queue.entries.append(Entry(changes: changes, revision: revision, state: state))
            guard !queue.draining else { return false }
            queue.draining = true
            return true
        }
        if start { thread.async { self.drain() } }
    }

    /// Returns once `revision` is durable; throws when a commit at or before it failed.
    func durable(through revision: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Void, StoreError>? = queue.withLock { queue in
                if queue.durableRevision >= revision { return .success(()) }
                if let failure = queue.failure, revision > queue.storedRevision { return .failure(failure) }
                queue.waiters.append((revision, continuation))
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// After a failed commit: the last state on disk, to go back to. New writes are taken again.
    func recover() -> (revision: UInt64, state: ClusterState)? {
        queue.withLock { queue in
            guard queue.failure != nil else { return nil }
            queue.failure = nil
            return (queue.storedRevision, queue.storedState)
        }
    }

    /// Calls `observer` with the last durable state (`initial`), then after every commit from now
    /// on; returns that state.
    func observe(_ observer: @escaping @Sendable (CommitBatch) -> Void) -> (
        revision: UInt64, state: ClusterState
    ) {
        observing.withLock { observers in
            let (revision, state) = current
            observer(
                CommitBatch(
                    revision: revision, before: ClusterState(), after: state, changed: [], initial: true))
            observers.append(observer)
            return (revision, state)
        }
    }

    /// Yields the revision after every commit (only the newest when the reader is behind).
    func subscribe() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = published.withLock { published in
            let id = published.nextSubscriber
            published.nextSubscriber += 1
            published.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.published.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    var subscriberCount: Int { published.withLock { $0.subscribers.count } }

    /// Drops change-log entries through `revision` (never the durable revision's own).
    func compact(through revision: UInt64) throws {
        guard revision > compactedThrough else { return }
        try database.write { db in try Self.drop(through: revision, in: db) }
        queue.withLock { $0.compactedThrough = max($0.compactedThrough, revision) }
    }

    /// Writes what is queued, one transaction at a time, until nothing is.
    private func drain() {
        while true {
            let taken: (entries: [Entry], compacted: UInt64)? = queue.withLock { queue in
                guard !queue.entries.isEmpty else {
                    queue.draining = false
                    return nil
                }
                defer { queue.entries = [] }
                return (queue.entries, queue.compactedThrough)
            }
            guard let taken, let last = taken.entries.last else { return }
            let entries = taken.entries
            let dropThrough = last.revision > retainedRevisions ? last.revision - retainedRevisions : 0
            do {
                try store(
                    entries, revision: last.revision,
                    dropThrough: dropThrough > taken.compacted ? dropThrough : nil)
            } catch {
                fail(error as? StoreError ?? .storage("\(error)"))
                continue
            }
            let startPublisher = queue.withLock { queue in
                queue.storedRevision = last.revision
                queue.storedState = last.state
                queue.compactedThrough = max(queue.compactedThrough, dropThrough)
                queue.unpublished += entries
                defer { queue.publishing = true }
                return !queue.publishing
            }
            if startPublisher { publisher.async { self.publishStored() } }
        }
    }

    /// Publishes what is on disk, every group stored since the last time at once (telling 1,000
    /// feeds of each small group would cost more than storing it), until nothing is left.
    private func publishStored() {
        while true {
            let entries: [Entry] = queue.withLock { queue in
                if queue.unpublished.isEmpty { queue.publishing = false }
                defer { queue.unpublished = [] }
                return queue.unpublished
            }
            guard let last = entries.last else { return }
            publish(entries, last: last)
            let done = queue.withLock { queue in
                queue.durableRevision = last.revision
                let done = queue.waiters.filter { $0.revision <= last.revision }
                queue.waiters.removeAll { $0.revision <= last.revision }
                return done
            }
            for waiter in done { waiter.continuation.resume() }
        }
    }

    /// Nothing of the group is stored: its writers fail, and so does everything queued after it
    /// (groups already on disk are still published and answered).
    private func fail(_ error: StoreError) {
        let waiters = queue.withLock { queue in
            queue.failure = error
            queue.entries = []
            let stored = queue.storedRevision
            defer { queue.waiters.removeAll { $0.revision > stored } }
            return queue.waiters.filter { $0.revision > stored }
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    private func store(_ entries: [Entry], revision: UInt64, dropThrough: UInt64?) throws {
        let first = entries.first?.revision ?? revision
        let changes = try Self.coalesced(entries).map { try $0.encoded() }
        try database.write { db in
            for change in changes { try Self.store(change, first: first, in: db) }
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('revision', ?)",
                arguments: [Int64(revision)])
            if let dropThrough { try Self.drop(through: dropThrough, in: db) }
        }
    }

    /// One change per object for the whole group, from its value before the group's first write
    /// to its value after the last, at the group's last revision. No reader sees a revision inside
    /// a group (the feeds and `current` move from group to group), so nothing needs the steps
    /// between; an object several writes of the group change is encoded and stored once (the
    /// allocator's cursors change at almost every write). `changes(after:)` refuses a revision
    /// inside a group.
    static func coalesced(_ entries: [Entry]) -> [PendingChange] {
        guard entries.count > 1, let last = entries.last?.revision else {
            return entries.first?.changes ?? []
        }
        var order: [String] = []
        var merged: [String: PendingChange] = [:]
        for entry in entries {
            for change in entry.changes {
                let key = "\(change.kind.rawValue)/\(change.id)"
                if var known = merged[key] {
                    known.after = change.after
                    merged[key] = known
                } else {
                    order.append(key)
                    merged[key] = change
                }
            }
        }
        return order.compactMap { key in
            guard var change = merged[key], change.before != nil || change.after != nil else { return nil }
            change.revision = last
            return change
        }
    }

    private func publish(_ entries: [Entry], last: Entry) {
        observing.withLock { observers in
            let (before, subscribers) = published.withLock { published in
                defer {
                    published.state = last.state
                    published.revision = last.revision
                }
                return (published.state, Array(published.subscribers.values))
            }
            if !observers.isEmpty {
                let event = CommitBatch(
                    revision: last.revision, before: before, after: last.state,
                    changed: entries.flatMap { $0.changes.map { (kind: $0.kind, id: $0.id) } }, initial: false
                )
                for observer in observers { observer(event) }
            }
            for subscriber in subscribers { subscriber.yield(last.revision) }
        }
    }

    private static func store(_ change: ObjectChange, first: UInt64, in db: Database) throws {
        // Cached statements: parsing the SQL again for each change took about a third of the time
        // spent in SQLite (perf, 10,000-task bench).
        if let after = change.after {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO objects (kind, id, body) VALUES (?, ?, ?)")
                .execute(arguments: [change.kind.rawValue, change.id, Data(after)])
        } else {
            try db.cachedStatement(sql: "DELETE FROM objects WHERE kind = ? AND id = ?")
                .execute(arguments: [change.kind.rawValue, change.id])
        }
        try db.cachedStatement(
            sql: "INSERT INTO changes (revision, first, kind, id, before, after) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(
            arguments: [
                Int64(change.revision), Int64(first), change.kind.rawValue, change.id,
                change.before.map { Data($0) }, change.after.map { Data($0) },
            ])
    }

    static func drop(through revision: UInt64, in db: Database) throws {
        try db.execute(sql: "DELETE FROM changes WHERE revision <= ?", arguments: [Int64(revision)])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?)",
            arguments: [Int64(revision)])
    }
}
