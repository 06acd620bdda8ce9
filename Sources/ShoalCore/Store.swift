import Foundation
import ShoalModel

/// Errors of the store and of the transactions run in it. The API maps them to status codes.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bad input: 400.
    case invalid(field: String?, reason: String)
    /// No such object: 404.
    case notFound(String)
    /// A stale version, a name or port taken, an object in use: 409.
    case conflict(String)
    /// The database failed.
    case storage(String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): field.map { "\($0): \(reason)" } ?? reason
        case .notFound(let what): what
        case .conflict(let what): what
        case .storage(let what): "storage: \(what)"
        }
    }
}

/// The cluster's durable state: one revision counter for everything, transactional writes, and a
/// change log by revision so feeds can resume. A distributed engine can implement it later.
public protocol ClusterStore: Sendable {
    /// The latest committed revision and state.
    func current() async -> (revision: UInt64, state: ClusterState)

    /// Names this store's history: made once when the store is created, never changed. A store
    /// restored from a backup or reset gets a new one, so a feed resuming at a revision of another
    /// history is noticed (its revision numbers may pass the agent's but mean other changes).
    var identity: String { get async }

    /// Runs `body` on a copy of the state; commits what it changed as one new revision (nothing when
    /// it changed nothing). Objects that changed get `version = revision`. When `body` throws,
    /// nothing is stored.
    @discardableResult
    func write<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) async throws -> (T, UInt64)

    /// The changes after `revision` up to the current one, oldest first; nil when the log no
    /// longer reaches back that far.
    func changes(after revision: UInt64) async throws -> [ObjectChange]?

    /// Yields the revision after every commit (only the newest when the reader is behind).
    func subscribe() async -> AsyncStream<UInt64>

    /// Calls `observer` once with the current state (`initial`), then after every durable commit, in
    /// order, before the writers are answered; returns the state it started from.
    func observeCommits(_ observer: @escaping @Sendable (CommitBatch) -> Void) async
        -> (revision: UInt64, state: ClusterState)

    /// Drops change-log entries so that only the last `keep` revisions remain.
    func compact(keepingLast keep: UInt64) async throws
}

/// One durable commit of one or more writes (writes that arrive while the disk syncs share a commit).
public struct CommitBatch: Sendable {
    public var revision: UInt64
    public var before: ClusterState
    public var after: ClusterState
    /// Every object the writes changed.
    public var changed: [(kind: ObjectKind, id: String)]
    /// The first call to an observer: `after` is the whole state it starts from.
    public var initial: Bool
}

extension ClusterStore {
    /// The state as it was at `revision`, rebuilt by undoing later changes; nil when the log is too short.
    public func state(at revision: UInt64) async throws -> ClusterState? {
        let (current, state) = await current()
        if revision == current { return state }
        guard revision < current, let changes = try await changes(after: revision) else { return nil }
        var rebuilt = state
        for change in changes.reversed() {
            try rebuilt.set(change.kind, id: change.id, json: change.before)
        }
        return rebuilt
    }
}

/// Stable JSON for stored objects (sorted keys, so equal objects give equal bytes).
enum StoreCoding {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

extension ClusterState {
    /// Sets (or removes, when `json` is nil) one object.
    mutating func set(_ kind: ObjectKind, id: String, json: [UInt8]?) throws {
        switch kind {
        case .node: nodes[id] = try json.map { try StoreCoding.decode(Node.self, $0) }
        case .network: networks[id] = try json.map { try StoreCoding.decode(Network.self, $0) }
        case .service: services[id] = try json.map { try StoreCoding.decode(Service.self, $0) }
        case .task: tasks[id] = try json.map { try StoreCoding.decode(ClusterTask.self, $0) }
        case .cursors:
            cursors = try json.map { try StoreCoding.decode(AllocatorCursors.self, $0) } ?? AllocatorCursors()
        }
    }

    /// The changes made since tracking was last reset (see `ObjectMap`), oldest kinds first and by
    /// id; stamps each changed object's version (see `Versioned`) and starts tracking over. The
    /// objects are encoded later, by the commit writer, off the store's actor.
    mutating func takeChanges(revision: UInt64, cursorsBefore: AllocatorCursors) -> [PendingChange] {
        syncIndex()
        var changes: [PendingChange] = []
        func collect<T: Codable & Equatable & Identifiable & Versioned>(
            _ kind: ObjectKind, _ map: inout ObjectMap<T>, _ wrap: (T) -> StoredObject
        ) where T.ID == String {
            let touched = map.takeChanges().sorted { $0.id < $1.id }
            for (id, oldValue, newValue) in touched {
                guard var newValue else {
                    changes.append(
                        PendingChange(
                            revision: revision, kind: kind, id: id, before: oldValue.map(wrap), after: nil))
                    continue
                }
                // What the manager observes (status, load balancers) is stored but keeps the version,
                // so an update made against it is not refused while tasks come and go.
                if let oldValue, oldValue.sameSpec(as: newValue) {
                    newValue.version = oldValue.version
                } else {
                    newValue.version = revision
                }
                map[id] = newValue
                changes.append(
                    PendingChange(
                        revision: revision, kind: kind, id: id, before: oldValue.map(wrap),
                        after: wrap(newValue)))
            }
            map.resetTracking()
        }
        collect(.node, &nodes, StoredObject.node)
        collect(.network, &networks, StoredObject.network)
        collect(.service, &services, StoredObject.service)
        collect(.task, &tasks, StoredObject.task)
        if cursors != cursorsBefore {
            cursors.version = revision
            changes.append(
                PendingChange(
                    revision: revision, kind: .cursors, id: cursors.id, before: .cursors(cursorsBefore),
                    after: .cursors(cursors)))
        }
        // A write without a pass leaves its changes to the next one.
        if !unreconciled.coveredByPass {
            for change in changes {
                switch change.kind {
                case .task: unreconciled.tasks.insert(change.id)
                case .service: unreconciled.services.insert(change.id)
                case .node: unreconciled.nodes.insert(change.id)
                case .network: unreconciled.networks.insert(change.id)
                case .cursors: break
                }
            }
        }
        unreconciled.coveredByPass = false
        return changes
    }

    /// Puts back everything a failed write touched.
    mutating func undoTracked(cursorsBefore: AllocatorCursors) {
        // A pass may have indexed some of it already: those ids are indexed again once put back.
        let touched = (Array(tasks.touchedIDs), Array(nodes.touchedIDs))
        let touchedServices = (Array(services.touchedIDs), Array(networks.touchedIDs))
        nodes.undoTracked()
        networks.undoTracked()
        services.undoTracked()
        tasks.undoTracked()
        cursors = cursorsBefore
        for id in touched.0 { index.update(task: id, tasks[id]) }
        for id in touched.1 { index.update(node: id, nodes[id]) }
        for id in touchedServices.0 { index.update(service: id, services[id]) }
        for id in touchedServices.1 { index.update(network: id, networks[id]) }
        unreconciled.coveredByPass = false
    }

    /// Forgets what was touched (after loading or rebuilding a state) and indexes it from nothing.
    mutating func resetTracking() {
        nodes.resetTracking()
        networks.resetTracking()
        services.resetTracking()
        tasks.resetTracking()
        index = ClusterIndex(rebuiltFrom: self)
        unreconciled = Unreconciled()
    }
}

/// Objects that carry the revision their spec was last written at: `?version=` guards updates of
/// what users set, so changes the manager makes to what it observes do not move it.
protocol Versioned {
    var version: UInt64 { get set }
    /// True when only observed fields differ (status, state, allocations).
    func sameSpec(as other: Self) -> Bool
}

extension Versioned {
    func sameSpec(as other: Self) -> Bool { false }
}

extension Node: Versioned {
    func sameSpec(as other: Node) -> Bool {
        name == other.name && role == other.role && availability == other.availability
            && address == other.address
    }
}

extension Network: Versioned {}

extension Service: Versioned {
    func sameSpec(as other: Service) -> Bool {
        spec == other.spec && generation == other.generation && networkIDs == other.networkIDs
            && ports == other.ports
    }
}

extension ClusterTask: Versioned {}
