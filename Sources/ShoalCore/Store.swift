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

    /// Drops change-log entries so that only the last `keep` revisions remain.
    func compact(keepingLast keep: UInt64) async throws
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

    /// The changes from `old` to `self`, stamping every changed object with `revision`.
    mutating func stampChanges(since old: ClusterState, revision: UInt64) throws -> [ObjectChange] {
        var changes: [ObjectChange] = []
        func diff<T: Codable & Equatable & Identifiable & Versioned>(
            _ kind: ObjectKind, _ before: [String: T], _ after: inout [String: T]
        ) throws where T.ID == String {
            for id in Set(before.keys).union(after.keys).sorted() {
                let oldValue = before[id]
                guard var newValue = after[id] else {
                    if let oldValue {
                        changes.append(
                            ObjectChange(
                                revision: revision, kind: kind, id: id,
                                before: try StoreCoding.encode(oldValue),
                                after: nil))
                    }
                    continue
                }
                if let oldValue, oldValue == newValue { continue }
                newValue.version = revision
                after[id] = newValue
                changes.append(
                    ObjectChange(
                        revision: revision, kind: kind, id: id,
                        before: try oldValue.map { try StoreCoding.encode($0) },
                        after: try StoreCoding.encode(newValue)))
            }
        }
        try diff(.node, old.nodes, &nodes)
        try diff(.network, old.networks, &networks)
        try diff(.service, old.services, &services)
        try diff(.task, old.tasks, &tasks)
        if cursors != old.cursors {
            cursors.version = revision
            changes.append(
                ObjectChange(
                    revision: revision, kind: .cursors, id: cursors.id,
                    before: try StoreCoding.encode(old.cursors),
                    after: try StoreCoding.encode(cursors)))
        }
        return changes
    }
}

/// Objects that carry the revision they were last written at.
protocol Versioned {
    var version: UInt64 { get set }
}

extension Node: Versioned {}
extension Network: Versioned {}
extension Service: Versioned {}
extension ClusterTask: Versioned {}
