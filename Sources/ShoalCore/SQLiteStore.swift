import Foundation
import GRDB
import ShoalModel

/// The embedded store: SQLite through GRDB. The whole state is also held in memory. Writes that
/// arrive while the disk syncs the previous commit are made durable together, in one SQLite
/// transaction (group commit): each keeps its own revision and change-log rows, and none is
/// answered before that transaction is synced.
public actor SQLiteStore: ClusterStore {
    private let database: DatabaseQueue
    /// What readers see: the state of the last durable commit.
    private var state: ClusterState
    private var revision: UInt64
    /// Writes apply here first; the next commit makes them durable.
    private var working: ClusterState
    private var workingRevision: UInt64
    private var pending: [[ObjectChange]] = []
    private var flushWaiters: [CheckedContinuation<Void, any Error>] = []
    private var flushScheduled = false
    private var observers: [@Sendable (CommitBatch) -> Void] = []
    /// The log holds every change after this revision.
    private var compactedThrough: UInt64
    public let identity: String
    private var subscribers: [Int: AsyncStream<UInt64>.Continuation] = [:]
    private var nextSubscriber = 0
    /// SQLite's `synchronous` setting in force (2 = FULL), for tests.
    var synchronousLevel: Int {
        get throws { try database.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
    }

    /// Change-log entries kept after each write.
    private let retainedRevisions: UInt64

    /// Opens (or creates) `directory/shoal.sqlite`; nil `directory` keeps everything in memory.
    public init(directory: String?, retainedRevisions: UInt64 = 10_000) throws {
        do {
            if let directory {
                try Self.prepareFiles(directory)
                var configuration = Configuration()
                configuration.journalMode = .wal
                database = try DatabaseQueue(path: directory + "/shoal.sqlite", configuration: configuration)
                // An acknowledged write must survive a power cut: sync the WAL at every commit.
                // GRDB sets NORMAL (which may lose the last commits) when it turns WAL on, so this
                // comes after opening, on the queue's one connection.
                try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL")
                }
            } else {
                database = try DatabaseQueue()
            }
            try database.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS objects (
                            kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id));
                        CREATE TABLE IF NOT EXISTS changes (
                            revision INTEGER NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, before BLOB, after BLOB);
                        CREATE INDEX IF NOT EXISTS changes_by_revision ON changes (revision);
                        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                        """)
            }
            // The history's name, made at creation (a random 63-bit number, in hex).
            let identity = try database.write { db -> Int64 in
                if let known = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'identity'") {
                    return known
                }
                let made = Int64.random(in: 1...Int64.max)
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES ('identity', ?)", arguments: [made])
                return made
            }
            self.identity = String(UInt64(identity), radix: 16)
            let loaded = try database.read { db -> (ClusterState, UInt64, UInt64) in
                var state = ClusterState()
                for row in try Row.fetchAll(db, sql: "SELECT kind, id, body FROM objects") {
                    let kindName: String = row["kind"]
                    guard let kind = ObjectKind(rawValue: kindName) else {
                        throw StoreError.storage("unknown object kind \(kindName) in the database")
                    }
                    let body: Data = row["body"]
                    try state.set(kind, id: row["id"], json: Array(body))
                }
                state.resetTracking()
                let revision =
                    try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? 0
                let compacted =
                    try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'compacted'") ?? 0
                return (state, UInt64(revision), UInt64(compacted))
            }
            (state, revision, compactedThrough) = loaded
            (working, workingRevision) = (loaded.0, loaded.1)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.storage("\(error)")
        }
        self.retainedRevisions = retainedRevisions
    }

    /// The store holds task environments (secrets, often): the directory is 0700 and the database
    /// 0600 before SQLite opens it, whatever the umask; SQLite gives its WAL and shared-memory files
    /// the database file's mode. Files of an older run are tightened too.
    static func prepareFiles(_ directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let database = directory + "/shoal.sqlite"
        if !FileManager.default.fileExists(atPath: database) {
            guard
                FileManager.default.createFile(
                    atPath: database, contents: nil, attributes: [.posixPermissions: 0o600])
            else { throw StoreError.storage("cannot create \(database)") }
        }
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: database + suffix)
        }
    }

    public func current() -> (revision: UInt64, state: ClusterState) { (revision, state) }

    /// The indexes the writes keep (the committed snapshots drop theirs), for tests.
    var keptIndex: ClusterIndex { working.index }

    @discardableResult
    public func write<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) async throws -> (
        T, UInt64
    ) {
        let (result, changes) = try applyInPlace(body)
        if changes.isEmpty {
            // The result may rest on writes not yet durable: answer after them.
            let seen = workingRevision
            if !pending.isEmpty { try await awaitCommit() }
            return (result, seen)
        }
        workingRevision += 1
        pending.append(changes)
        let revision = workingRevision
        try await awaitCommit()
        return (result, revision)
    }

    /// Runs `body` on the working state in place. Not async on purpose: a writer waiting for its
    /// commit must hold no reference to the state, or the next write copies every map it touches
    /// and each waiting writer keeps its copy (1,000 agents reporting at once held 1,000 copies of
    /// the task map, gigabytes at 10,000 tasks; issue 12).
    private func applyInPlace<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) throws -> (
        T, [ObjectChange]
    ) {
        var next = working
        // Not shared while the body runs, so the maps it touches are changed in place.
        working = ClusterState()
        let cursorsBefore = next.cursors
        let result: T
        let changes: [ObjectChange]
        do {
            result = try body(&next)
            changes = try next.takeChanges(revision: workingRevision + 1, cursorsBefore: cursorsBefore)
        } catch {
            next.undoTracked(cursorsBefore: cursorsBefore)
            working = next
            throw error
        }
        working = next
        return (result, changes)
    }

    private func awaitCommit() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            flushWaiters.append(continuation)
            if !flushScheduled {
                flushScheduled = true
                // Runs after the writes already queued on this actor, so they join this commit.
                Task { self.commit() }
            }
        }
    }

    /// Makes every pending write durable in one transaction, then publishes and answers them.
    private func commit() {
        flushScheduled = false
        let batch = pending
        let waiters = flushWaiters
        pending = []
        flushWaiters = []
        guard !batch.isEmpty else {
            for waiter in waiters { waiter.resume() }
            return
        }
        let newRevision = workingRevision
        let dropThrough = newRevision > retainedRevisions ? newRevision - retainedRevisions : 0
        do {
            try database.write { db in
                for changes in batch {
                    for change in changes { try Self.store(change, in: db) }
                }
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('revision', ?)",
                    arguments: [Int64(newRevision)])
                if dropThrough > compactedThrough {
                    try Self.drop(through: dropThrough, in: db)
                }
            }
        } catch {
            // Nothing of the batch is stored: every write in it fails and the state goes back.
            working = state
            workingRevision = revision
            for waiter in waiters { waiter.resume(throwing: StoreError.storage("\(error)")) }
            return
        }
        let before = state
        state = working
        // Readers do not need the indexes; kept here, they would make the next write copy them all.
        state.dropIndexes()
        revision = newRevision
        compactedThrough = max(compactedThrough, dropThrough)
        if !observers.isEmpty {
            let event = CommitBatch(
                revision: newRevision, before: before, after: state,
                changed: batch.flatMap { $0.map { (kind: $0.kind, id: $0.id) } }, initial: false)
            for observer in observers { observer(event) }
        }
        for continuation in subscribers.values { continuation.yield(newRevision) }
        for waiter in waiters { waiter.resume() }
    }

    private static func store(_ change: ObjectChange, in db: Database) throws {
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
            sql: "INSERT INTO changes (revision, kind, id, before, after) VALUES (?, ?, ?, ?, ?)"
        ).execute(
            arguments: [
                Int64(change.revision), change.kind.rawValue, change.id, change.before.map { Data($0) },
                change.after.map { Data($0) },
            ])
    }

    public func observeCommits(_ observer: @escaping @Sendable (CommitBatch) -> Void) -> (
        revision: UInt64, state: ClusterState
    ) {
        // The observer learns the starting state first, in the same step, so no commit falls between.
        observer(
            CommitBatch(revision: revision, before: ClusterState(), after: state, changed: [], initial: true))
        observers.append(observer)
        return (revision, state)
    }

    public func changes(after since: UInt64) throws -> [ObjectChange]? {
        guard since >= compactedThrough else { return nil }
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT revision, kind, id, before, after FROM changes WHERE revision > ? ORDER BY rowid",
                    arguments: [Int64(since)]
                ).map { row in
                    let kindName: String = row["kind"]
                    guard let kind = ObjectKind(rawValue: kindName) else {
                        throw StoreError.storage("unknown object kind \(kindName) in the change log")
                    }
                    let revision: Int64 = row["revision"]
                    let before: Data? = row["before"]
                    let after: Data? = row["after"]
                    return ObjectChange(
                        revision: UInt64(revision), kind: kind, id: row["id"],
                        before: before.map { Array($0) },
                        after: after.map { Array($0) })
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.storage("\(error)")
        }
    }

    public func subscribe() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    /// Open subscriptions (feeds and the reconciler); tests check that closed feeds let go.
    public var subscriberCount: Int { subscribers.count }

    public func compact(keepingLast keep: UInt64) throws {
        let through = revision > keep ? revision - keep : 0
        guard through > compactedThrough else { return }
        do {
            try database.write { db in try Self.drop(through: through, in: db) }
        } catch {
            throw StoreError.storage("\(error)")
        }
        compactedThrough = through
    }

    private static func drop(through revision: UInt64, in db: Database) throws {
        try db.execute(sql: "DELETE FROM changes WHERE revision <= ?", arguments: [Int64(revision)])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?)",
            arguments: [Int64(revision)])
    }
}
