import Foundation
import GRDB
import ShoalModel

/// The embedded store: SQLite through GRDB. The whole state is also held in memory. Writes apply
/// to the working state on this actor; the commit writer makes them durable on its own thread.
/// Writes that arrive while it syncs one group are made durable together in the next SQLite
/// transaction (group commit): each keeps its own revision, the group is logged as one change per
/// object, and none is answered before its transaction is synced.
public actor SQLiteStore: ClusterStore {
    private let database: DatabaseQueue
    /// Makes the writes durable and publishes them: what readers see is its last durable commit.
    private let writer: CommitWriter
    /// Writes apply here first; the commit writer makes them durable.
    private var working: ClusterState
    private var workingRevision: UInt64
    public let identity: String
    /// SQLite's `synchronous` setting in force (2 = FULL), for tests.
    var synchronousLevel: Int {
        get throws { try database.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
    }

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
                // The first revision of the group a row was written with (the commit writer stores
                // one row per object per group); older databases lack it: NULL, a group of one.
                if try !db.columns(in: "changes").contains(where: { $0.name == "first" }) {
                    try db.execute(sql: "ALTER TABLE changes ADD COLUMN first INTEGER")
                }
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
            (working, workingRevision) = (loaded.0, loaded.1)
            writer = CommitWriter(
                database: database, revision: loaded.1, state: loaded.0, compactedThrough: loaded.2,
                retainedRevisions: retainedRevisions)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.storage("\(error)")
        }
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

    /// Read from the commit writer, without waiting behind the writes queued on this actor.
    nonisolated public func current() -> (revision: UInt64, state: ClusterState) { writer.current }

    /// Runs SQL on the database, for tests (a trigger that makes a commit fail).
    func executeForTests(_ sql: String) throws { try database.write { try $0.execute(sql: sql) } }

    /// The indexes the writes keep (the committed snapshots drop theirs), for tests.
    var keptIndex: ClusterIndex { working.index }

    @discardableResult
    public func write<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) async throws -> (
        T, UInt64
    ) {
        let (result, changes) = try applyInPlace(body)
        do {
            if !changes.isEmpty {
                var snapshot = working
                // Readers do not need the indexes; shared with the snapshot, the next write would copy them.
                snapshot.dropIndexes()
                try writer.enqueue(changes, revision: workingRevision + 1, state: snapshot)
                workingRevision += 1
            }
            // A write that changed nothing may still rest on writes not yet durable: it waits for them.
            try await writer.durable(through: workingRevision)
        } catch {
            // A commit failed. Every write in its group failed, and so did every write applied since
            // (each built on it): the working state goes back to the last durable commit.
            if let (revision, state) = writer.recover() {
                working = state
                workingRevision = revision
            }
            throw error
        }
        return (result, workingRevision)
    }

    /// Runs `body` on the working state in place. Not async on purpose: a writer waiting for its
    /// commit must hold no reference to the state, or the next write copies every map it touches
    /// and each waiting writer keeps its copy (1,000 agents reporting at once held 1,000 copies of
    /// the task map, gigabytes at 10,000 tasks; issue 12).
    private func applyInPlace<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) throws -> (
        T, [PendingChange]
    ) {
        var next = working
        // Not shared while the body runs, so the maps it touches are changed in place.
        working = ClusterState()
        let cursorsBefore = next.cursors
        let result: T
        do {
            result = try body(&next)
        } catch {
            next.undoTracked(cursorsBefore: cursorsBefore)
            working = next
            throw error
        }
        let changes = next.takeChanges(revision: workingRevision + 1, cursorsBefore: cursorsBefore)
        working = next
        return (result, changes)
    }

    public func observeCommits(_ observer: @escaping @Sendable (CommitBatch) -> Void) -> (
        revision: UInt64, state: ClusterState
    ) {
        writer.observe(observer)
    }

    public func changes(after since: UInt64) throws -> [ObjectChange]? {
        let durable = Int64(writer.current.revision)
        do {
            return try database.read { db -> [ObjectChange]? in
                // Read in the same transaction as the rows: the commit writer drops old ones as it goes.
                let compacted =
                    try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'compacted'") ?? 0
                guard Int64(since) >= compacted else { return nil }
                // A revision inside a group was never published; the log cannot rebuild it.
                let inside = try Bool.fetchOne(
                    db,
                    sql:
                        "SELECT 1 FROM changes WHERE revision > ? AND COALESCE(first, revision) <= ? LIMIT 1",
                    arguments: [Int64(since), Int64(since)])
                guard inside != true else { return nil }
                return try Row.fetchAll(
                    db,
                    sql: """
                        SELECT revision, kind, id, before, after FROM changes
                        WHERE revision > ? AND revision <= ? ORDER BY rowid
                        """,
                    arguments: [Int64(since), durable]
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

    public func subscribe() -> AsyncStream<UInt64> { writer.subscribe() }

    /// Open subscriptions (feeds and the reconciler); tests check that closed feeds let go.
    public var subscriberCount: Int { writer.subscriberCount }

    public func compact(keepingLast keep: UInt64) throws {
        let revision = writer.current.revision
        do {
            try writer.compact(through: revision > keep ? revision - keep : 0)
        } catch {
            throw StoreError.storage("\(error)")
        }
    }
}
