import Foundation
import ShoalModel

/// Every node's feed view, kept as encoded objects and updated from each commit's changed objects.
///
/// Objects live in tables: one per network (`n/<id>`: its endpoints, load balancers and services,
/// the same for every node on it) and one per node (`o/<id>`: its tasks, and its networks, which
/// carry its own load-balancer address). A node's view is its own table plus the tables of the
/// networks it takes part in. Each table logs the keys that changed, by revision, so a feed that
/// sent its view at revision R catches up by reading the keys logged after R: the work per commit
/// follows what changed, and each changed object is encoded once whatever the number of feeds.
struct FeedTables {
    /// The revision the tables are at, and the state they were computed from.
    private(set) var revision: UInt64 = 0
    private(set) var cluster = ClusterState()
    /// Encoded objects (JSON, as in a COMPLETE) by table, then key.
    private(set) var tables: [String: [String: [UInt8]]] = [:]
    /// Each table's keys in order, so a COMPLETE can be written in parts by key (`CompleteCursor`).
    private(set) var sortedKeys: [String: [String]] = [:]
    private(set) var logs: [String: ChangeLog] = [:]
    /// Per node: live tasks per network it takes part in (ingress is implied).
    private var membership: [String: [String: Int]] = [:]
    private var tasksByNode: [String: Set<String>] = [:]
    private var ingressID: String?
    private let logLimit: Int
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func networkTable(_ id: String) -> String { "n/" + id }
    static func nodeTable(_ id: String) -> String { "o/" + id }

    init(logLimit: Int = 100_000) { self.logLimit = logLimit }

    /// Starts from a whole state.
    init(revision: UInt64, state: ClusterState, logLimit: Int = 100_000) {
        self.logLimit = logLimit
        var everything: [(kind: ObjectKind, id: String)] = []
        for id in state.nodes.keys { everything.append((.node, id)) }
        for id in state.networks.keys { everything.append((.network, id)) }
        for id in state.services.keys { everything.append((.service, id)) }
        for id in state.tasks.keys { everything.append((.task, id)) }
        _ = apply(
            CommitBatch(
                revision: revision, before: ClusterState(), after: state, changed: everything, initial: true))
        logs = [:]
    }

    /// Whether `networks(of: nodeID)` holds `networkID`, without building it.
    func isMember(_ nodeID: String, of networkID: String) -> Bool {
        guard cluster.nodes[nodeID] != nil else { return false }
        return networkID == ingressID || membership[nodeID]?[networkID] != nil
    }

    /// The networks a node takes part in now: ingress and those of its live tasks (none once removed).
    func networks(of nodeID: String) -> Set<String> {
        guard cluster.nodes[nodeID] != nil else { return [] }
        var ids = Set((membership[nodeID] ?? [:]).keys)
        if let ingressID { ids.insert(ingressID) }
        return ids
    }

    /// Tables whose objects changed.
    mutating func apply(_ batch: CommitBatch) -> Set<String> {
        let old = batch.before
        let new = batch.after
        var touched: [String: Set<String>] = [:]
        func touch(_ table: String, _ key: String) { touched[table, default: []].insert(key) }
        if batch.changed.contains(where: { $0.kind == .network }) {
            ingressID = new.ingressNetwork?.id
        }
        // An object written more than once in the batch counts once (before -> after).
        var seen = Set<String>()
        for (kind, id) in batch.changed where seen.insert("\(kind.rawValue)/\(id)").inserted {
            switch kind {
            case .task:
                let before = old.tasks[id]
                let after = new.tasks[id]
                for endpoint in (before?.endpoints ?? []) + (after?.endpoints ?? []) {
                    touch(Self.networkTable(endpoint.networkID), "endpoint/\(endpoint.networkID)/\(id)")
                }
                for (task, sign) in [(before, -1), (after, 1)] {
                    guard let task, let nodeID = task.nodeID else { continue }
                    touch(Self.nodeTable(nodeID), "task/\(id)")
                    if sign < 0 {
                        tasksByNode[nodeID]?.remove(id)
                    } else {
                        tasksByNode[nodeID, default: []].insert(id)
                    }
                    guard !task.state.isTerminal else { continue }
                    for endpoint in task.endpoints {
                        let was = membership[nodeID]?[endpoint.networkID] ?? 0
                        let count = was + sign
                        membership[nodeID, default: [:]][endpoint.networkID] = count > 0 ? count : nil
                        // The node joined or left the network.
                        if (was > 0) != (count > 0) {
                            touch(Self.nodeTable(nodeID), "network/\(endpoint.networkID)")
                        }
                    }
                }
            case .node:
                let before = old.nodes[id]
                let after = new.nodes[id]
                let lbNetworks = Set((before?.loadBalancerIPs ?? [:]).keys).union(
                    (after?.loadBalancerIPs ?? [:]).keys)
                for networkID in lbNetworks { touch(Self.networkTable(networkID), "lb/\(networkID)/\(id)") }
                if before?.state != after?.state || before?.address != after?.address {
                    for taskID in tasksByNode[id] ?? [] {
                        for endpoint in (new.tasks[taskID] ?? old.tasks[taskID])?.endpoints ?? [] {
                            touch(
                                Self.networkTable(endpoint.networkID),
                                "endpoint/\(endpoint.networkID)/\(taskID)")
                        }
                    }
                }
                let own = Self.nodeTable(id)
                for networkID in lbNetworks.union((membership[id] ?? [:]).keys) {
                    touch(own, "network/\(networkID)")
                }
                if let ingressID { touch(own, "network/\(ingressID)") }
                // A removed node's view empties; a new one starts with ingress.
                if after == nil || before == nil {
                    for key in tables[own].map({ Array($0.keys) }) ?? [] { touch(own, key) }
                    for taskID in tasksByNode[id] ?? [] { touch(own, "task/\(taskID)") }
                }
            case .service:
                let before = old.services[id]
                let after = new.services[id]
                for networkID in (before?.networkIDs ?? []) + (after?.networkIDs ?? []) {
                    touch(Self.networkTable(networkID), "service/\(networkID)/\(id)")
                }
            case .network:
                let isIngress = (new.networks[id] ?? old.networks[id])?.ingress == true
                for (nodeID, networks) in membership where isIngress || networks[id] != nil {
                    touch(Self.nodeTable(nodeID), "network/\(id)")
                }
                if isIngress {
                    for nodeID in new.nodes.keys { touch(Self.nodeTable(nodeID), "network/\(id)") }
                }
            case .cursors:
                break
            }
        }
        cluster = new
        revision = batch.revision
        var changed = Set<String>()
        for (table, keys) in touched {
            var added: [String] = []
            var removed: Set<String> = []
            for key in keys.sorted() {
                let bytes = object(key, table: table).flatMap { try? encoder.encode($0) }.map(Array.init)
                let old = tables[table]?[key]
                if old == bytes { continue }
                if old == nil {
                    added.append(key)
                } else if bytes == nil {
                    removed.insert(key)
                }
                tables[table, default: [:]][key] = bytes
                logs[table, default: ChangeLog()].append(revision: revision, key: key, limit: logLimit)
                changed.insert(table)
            }
            if tables[table]?.isEmpty == true {
                tables[table] = nil
                sortedKeys[table] = nil
            } else if !added.isEmpty || !removed.isEmpty {
                sortedKeys[table] = Self.merge(sortedKeys[table] ?? [], adding: added, removing: removed)
            }
        }
        return changed
    }

    /// `keys` (sorted) with `added` (sorted, none of them in `keys`) and without `removed`: a few
    /// by binary search, many in one pass.
    static func merge(_ keys: [String], adding added: [String], removing removed: Set<String>) -> [String] {
        if added.count + removed.count > 8 && (added.count + removed.count) * 16 > keys.count {
            var result: [String] = []
            result.reserveCapacity(keys.count + added.count)
            var next = added.startIndex
            for key in keys where !removed.contains(key) {
                while next < added.endIndex && added[next] < key {
                    result.append(added[next])
                    next += 1
                }
                result.append(key)
            }
            result.append(contentsOf: added[next...])
            return result
        }
        var result = keys
        for key in removed {
            let index = lowerBound(key, in: result)
            if index < result.count && result[index] == key { result.remove(at: index) }
        }
        for key in added { result.insert(key, at: lowerBound(key, in: result)) }
        return result
    }

    /// The first index in sorted `keys` whose key is not below `key`.
    static func lowerBound(_ key: String, in keys: [String]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The object `key` names in `table`, as the state now has it (nil: not in the view).
    private func object(_ key: String, table: String) -> FeedObject? {
        let parts = key.split(separator: "/", maxSplits: 2).map(String.init)
        let owner = String(table.dropFirst(2))
        switch (parts.first ?? "", parts.count) {
        case ("task", 2):
            guard cluster.nodes[owner] != nil, let task = cluster.tasks[parts[1]], task.nodeID == owner,
                !task.state.isTerminal
            else { return nil }
            return NodeView.taskObject(task)
        case ("network", 2):
            guard let node = cluster.nodes[owner], let network = cluster.networks[parts[1]],
                networks(of: owner).contains(network.id)
            else { return nil }
            return NodeView.networkObject(network, node: node)
        case ("endpoint", 3):
            return cluster.tasks[parts[2]].flatMap {
                NodeView.endpointObject($0, networkID: parts[1], state: cluster)
            }
        case ("lb", 3):
            return cluster.nodes[parts[2]].flatMap { NodeView.loadBalancerObject($0, networkID: parts[1]) }
        case ("service", 3):
            guard let service = cluster.services[parts[2]], service.networkIDs.contains(parts[1]) else {
                return nil
            }
            return NodeView.serviceObject(service, networkID: parts[1], state: cluster)
        default:
            return nil
        }
    }

    /// Drops logged keys no open feed still needs (every feed has sent its view past `revision`).
    mutating func trimLogs(through revision: UInt64) {
        for table in logs.keys { logs[table]?.drop(through: revision) }
    }

    // MARK: what one feed is sent

    /// The tables of a node's whole view: its own and those of its networks.
    func viewTables(of nodeID: String) -> [String] {
        [Self.nodeTable(nodeID)] + networks(of: nodeID).sorted().map(Self.networkTable)
    }

    /// Tables by name as they are now (a missing one is empty), for a COMPLETE's next part.
    func sources(_ names: [String]) -> [CompleteSource] {
        names.map { CompleteSource(objects: tables[$0] ?? [:], keys: sortedKeys[$0] ?? []) }
    }

    /// What changed in a node's view since it was sent at `since` with `sentNetworks`: keys to
    /// upsert (with their bytes) or remove (nil); nil when a log no longer reaches back to `since`,
    /// or when the INCREMENTAL would be larger than `byteLimit` (a COMPLETE in parts is then what
    /// the feed is sent: it holds no copy of the changes). A removal may name a key the feed never
    /// had (added and removed in between): harmless.
    func changes(
        for nodeID: String, since: UInt64, sentNetworks: Set<String>, byteLimit: Int = .max
    ) -> [String: [UInt8]?]? {
        let current = networks(of: nodeID)
        var result: [String: [UInt8]?] = [:]
        var size = 0
        /// Adds one change; false once the changes are over the limit.
        func add(_ key: String, _ bytes: [UInt8]?) -> Bool {
            size += FeedBytes.changeSize(key: key, object: bytes)
            result[key] = .some(bytes)
            return size <= byteLimit
        }
        func logged(_ table: String) -> [String]? {
            guard let log = logs[table] else { return [] }
            return log.keys(after: since)
        }
        let own = Self.nodeTable(nodeID)
        guard let ownKeys = logged(own) else { return nil }
        for key in ownKeys { guard add(key, tables[own]?[key]) else { return nil } }
        for networkID in current.union(sentNetworks) {
            let table = Self.networkTable(networkID)
            let objects = tables[table] ?? [:]
            switch (sentNetworks.contains(networkID), current.contains(networkID)) {
            case (false, true):
                for (key, bytes) in objects { guard add(key, bytes) else { return nil } }
            case (true, false):
                guard let keys = logged(table) else { return nil }
                for key in objects.keys { guard add(key, nil) else { return nil } }
                for key in keys { guard add(key, nil) else { return nil } }
            default:
                guard let keys = logged(table) else { return nil }
                for key in keys { guard add(key, objects[key]) else { return nil } }
            }
        }
        return result
    }
}

/// Keys changed in one table, by revision, oldest first; bounded (the oldest are dropped).
struct ChangeLog {
    private var revisions: [UInt64] = []
    private var keys: [String] = []
    private var start = 0
    /// Entries at or below this revision were dropped.
    private(set) var droppedThrough: UInt64 = 0

    mutating func append(revision: UInt64, key: String, limit: Int) {
        revisions.append(revision)
        keys.append(key)
        if revisions.count - start > limit {
            droppedThrough = revisions[start]
            start += 1
            // Shift out the dropped prefix now and then, so appends stay amortized O(1).
            if start > limit {
                revisions.removeFirst(start)
                keys.removeFirst(start)
                start = 0
            }
        }
    }

    mutating func drop(through revision: UInt64) {
        guard revision > droppedThrough else { return }
        droppedThrough = revision
        while start < revisions.count && revisions[start] <= revision { start += 1 }
        if start > 1024 && start * 2 > revisions.count {
            revisions.removeFirst(start)
            keys.removeFirst(start)
            start = 0
        }
    }

    /// Entries held, and the bytes of their keys' text.
    var count: Int { revisions.count - start }
    var keyBytes: Int { keys[start...].reduce(0) { $0 + $1.utf8.count } }

    /// The keys logged after `revision`; nil when entries after it were already dropped.
    func keys(after revision: UInt64) -> [String]? {
        guard revision >= droppedThrough else { return nil }
        var low = start
        var high = revisions.count
        while low < high {
            let middle = (low + high) / 2
            if revisions[middle] <= revision { low = middle + 1 } else { high = middle }
        }
        return Array(keys[low...])
    }
}
