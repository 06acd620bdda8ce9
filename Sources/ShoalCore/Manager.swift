import Foundation
import ShoalModel
import Synchronization

public struct ManagerConfig: Sendable, Equatable {
    public var allocator: AllocatorConfig
    public var orchestrator: OrchestratorConfig
    /// Seconds between keep-alive lines on an idle feed.
    public var feedKeepaliveSeconds: Double
    /// The reconciler also runs this often without changes (liveness, drain timers, update delays).
    public var tickSeconds: Double
    /// Every this many seconds the timer's pass looks at everything instead of the changes and
    /// timers only (a safety net: retries that wait for nothing to change, such as a node's
    /// load-balancer address on a full network).
    public var fullPassSeconds: Double = 30
    /// Accept the underlay address a node declares even when it connects from another one
    /// (`--trust-node-addresses`); by default the manager takes the address it sees.
    public var trustDeclaredNodeAddresses = false
    /// A feed resumes with an INCREMENTAL from `since` only this many revisions back; older gets
    /// a COMPLETE (rebuilding an old state reads every change after it).
    public var maxResumeRevisions: UInt64 = 1000

    public init(
        allocator: AllocatorConfig = AllocatorConfig(),
        orchestrator: OrchestratorConfig = OrchestratorConfig(),
        feedKeepaliveSeconds: Double = 10, tickSeconds: Double = 1
    ) {
        self.allocator = allocator
        self.orchestrator = orchestrator
        self.feedKeepaliveSeconds = feedKeepaliveSeconds
        self.tickSeconds = tickSeconds
    }
}

/// A node's open feed. Each message is built when the connection asks for the next one, so
/// commits made while the agent is busy reach it as one INCREMENTAL.
public struct FeedSubscription: Sendable {
    let next: @Sendable () async -> [UInt8]?
    /// Stops the feed (the connection closed).
    public let cancel: @Sendable () -> Void

    /// The bytes as they go on the wire: one JSON line per message, newline included; a COMPLETE
    /// comes in parts of about 64 KiB (only its last part ends with the newline), others whole.
    public var chunks: AsyncStream<[UInt8]> { AsyncStream(unfolding: next, onCancel: cancel) }

    /// The messages as whole lines (a COMPLETE's parts joined: it holds a whole view).
    public var lines: AsyncStream<[UInt8]> {
        let next = next
        return AsyncStream(unfolding: { await FeedHub.wholeLine(next) }, onCancel: cancel)
    }

    /// The messages, decoded.
    public var messages: AsyncStream<FeedMessage> {
        let next = next
        return AsyncStream(
            unfolding: {
                guard let line = await FeedHub.wholeLine(next) else { return nil }
                return try? JSONDecoder().decode(FeedMessage.self, from: Data(line))
            }, onCancel: cancel)
    }
}

/// An agent's task report waiting for its batch write.
struct QueuedReport {
    var taskID: String
    var report: TaskStatusReport
    var answer: CheckedContinuation<ClusterTask, any Error>
}

/// Object ids: 25 random lowercase letters and digits, as Swarm's.
public enum ObjectID {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func make() -> String {
        // Eight characters per 64 random bits (one getrandom call) instead of one call each: a
        // create of 10 tasks made 275 system calls for its ids. A byte of 252 or more is skipped
        // so that `byte % 36` stays uniform (252 = 7 x 36).
        var generator = SystemRandomNumberGenerator()
        var id: [UInt8] = []
        id.reserveCapacity(25)
        while id.count < 25 {
            var word = generator.next()
            for _ in 0..<8 where id.count < 25 {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                if byte < 252 { id.append(alphabet[Int(byte % 36)]) }
            }
        }
        return String(decoding: id, as: UTF8.self)
    }
}

/// When each node was last heard from. Read inside the reconciler's store write, so a node
/// registered by an earlier write is always seen with its registration time.
public final class HeartbeatTable: Sendable {
    private let seen = Mutex<(byNode: [String: Double], overload: Double?)>(([:], nil))
    func record(_ nodeID: String, at time: Double) { seen.withLock { $0.byNode[nodeID] = time } }

    /// The listeners refused a connection at `time`: a heartbeat may have been among them, so every
    /// node counts as heard from then (a node is never DOWN because the manager was full).
    public func noteOverload(at time: Double) {
        seen.withLock { $0.overload = max($0.overload ?? time, time) }
    }

    var lastOverload: Double? { seen.withLock { $0.overload } }

    var snapshot: [String: Double] {
        seen.withLock { seen in
            guard let overload = seen.overload else { return seen.byNode }
            return seen.byNode.mapValues { max($0, overload) }
        }
    }
}

/// The manager: the store, the heartbeats seen (kept in memory, as Swarm's dispatcher does), the
/// reconciler that runs after changes and on a timer, and the feeds.
public actor Manager {
    nonisolated public let store: any ClusterStore
    nonisolated public let config: ManagerConfig
    /// Seconds since 1970; tests pass a clock they move by hand.
    nonisolated public let clock: @Sendable () -> Double
    nonisolated let feeds = FeedHub()
    /// Task logs relayed from the agents on request (`service logs`).
    nonisolated public let logs = LogBroker()
    private var feedsAttached = false
    nonisolated public let heartbeats = HeartbeatTable()
    private let startedAt: Double
    /// The last revision a reconcile pass has seen (its own commit included): writes it covers are
    /// not reconciled again.
    private var reconciledThrough: UInt64 = 0
    /// When a pass last judged the nodes' liveness (the clock's seconds).
    private var livenessJudgedAt = -Double.infinity
    static let livenessInterval = 0.25
    private var passesRunning = 0
    private var passWaiters: [CheckedContinuation<Void, Never>] = []
    /// Agents' task reports that arrived while the previous batch was being written (`report`).
    private var queuedReports: [QueuedReport] = []
    private var reportWriteRunning = false

    public init(
        store: any ClusterStore, config: ManagerConfig = ManagerConfig(),
        clock: (@Sendable () -> Double)? = nil
    ) {
        self.store = store
        self.config = config
        let clock = clock ?? { Date().timeIntervalSince1970 }
        self.clock = clock
        self.startedAt = clock()
    }

    /// Creates the ingress network at first start and reconciles once.
    public func start() async throws {
        await attachFeeds()
        let allocator = config.allocator
        let id = ObjectID.make()
        _ = try await store.write { state in
            try Operations.initCluster(&state, id: id, config: allocator)
        }
        try await reconcile()
    }

    /// One full reconciliation pass, committed as one revision (or none when nothing changed).
    @discardableResult
    public func reconcile() async throws -> UInt64 { try await reconcile(scope: .full) }

    /// A pass over what changed since the last one (`.changes`) or over everything (`.full`).
    @discardableResult
    func reconcile(scope: PassScope) async throws -> UInt64 {
        passesRunning += 1
        defer {
            passesRunning -= 1
            let waiters = passWaiters
            passWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        let pass = reconcilePass(scope: scope)
        let (_, revision) = try await store.write { state in pass(&state) }
        reconciledThrough = max(reconciledThrough, revision)
        return revision
    }

    /// The orchestrator's pass as a store-write body, with the clock read now.
    private func reconcilePass(scope: PassScope) -> @Sendable (inout ClusterState) -> Void {
        let now = clock()
        let heartbeats = heartbeats
        let startedAt = startedAt
        let config = config.orchestrator
        // Liveness is judged at most every `livenessInterval` seconds of the clock (and by every full
        // pass): each judgement walks every node, and hundreds of API writes a second each made one
        // (issue 12). An empty table marks nobody DOWN.
        let judgeLiveness =
            scope == .full || now - livenessJudgedAt >= Self.livenessInterval || now < livenessJudgedAt
        if judgeLiveness { livenessJudgedAt = now }
        return { state in
            var lastSeen: [String: Double] = [:]
            if judgeLiveness {
                // Nodes not heard from since the manager started get a full grace period.
                lastSeen = heartbeats.snapshot
                let floor = max(startedAt, heartbeats.lastOverload ?? startedAt)
                for id in state.nodes.keys where lastSeen[id] == nil { lastSeen[id] = floor }
            }
            Orchestrator.reconcile(
                &state, now: now, lastHeartbeat: lastSeen, config: config, makeID: ObjectID.make, scope: scope
            )
        }
    }

    /// Returns once a pass has seen `revision`. Writers that arrive while a pass runs share the
    /// next one: each write is reconciled once, however many arrive together.
    private func reconciled(through revision: UInt64) async throws {
        while reconciledThrough < revision {
            if passesRunning > 0 {
                await withCheckedContinuation { passWaiters.append($0) }
            } else {
                try await reconcile(scope: .changes)
            }
        }
    }

    /// Runs an operation and the reconcile pass it triggers in one store write: one durable commit
    /// (one fsync) and one feed update per API call. Store writes are serial, so the pass sees
    /// every earlier commit too; an operation that throws commits nothing.
    @discardableResult
    public func apply<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) async throws -> T {
        // Scoped to what the write and the commits before it changed (the kept indexes find the rest).
        let pass = reconcilePass(scope: .changes)
        let (result, revision) = try await store.write { state in
            let result = try body(&state)
            pass(&state)
            return result
        }
        reconciledThrough = max(reconciledThrough, revision)
        return result
    }

    /// An agent's task report: stored durably in one write with the reports that arrive while the
    /// previous batch is written, and answered without waiting for a reconcile pass; the loop
    /// reconciles after it.
    public func report(_ taskID: String, _ report: TaskStatusReport) async throws -> ClusterTask {
        var report = report
        report.message = report.message.map(Self.boundedMessage)
        // A report at the state the task is in, carrying nothing but a message, is not written:
        // an agent repeating itself must not make a revision (and a feed line) each time.
        var bare = report
        bare.message = nil
        if let task = await store.current().state.tasks[taskID], task.nodeID == report.nodeID,
            task.state == report.state, bare == TaskStatusReport(nodeID: report.nodeID, state: report.state)
        {
            return task
        }
        let bounded = report
        return try await withCheckedThrowingContinuation { continuation in
            queuedReports.append(QueuedReport(taskID: taskID, report: bounded, answer: continuation))
            if !reportWriteRunning {
                reportWriteRunning = true
                Task { await writeReports() }
            }
        }
    }

    /// Writes the queued reports as one store write, then those that came meanwhile, until none is
    /// left: 1,000 agents reporting at once make a few writes, not 1,000, and a lone report waits
    /// for nothing (as swarmkit's batched status updates, without a fixed window). Each report is
    /// answered once its batch is durable; one that fails (unknown task, wrong node) fails alone.
    private func writeReports() async {
        while !queuedReports.isEmpty {
            let batch = queuedReports
            queuedReports = []
            let reports = batch.map { (taskID: $0.taskID, report: $0.report) }
            let now = clock()
            do {
                let (results, _) = try await store.write { state in
                    reports.map { item -> Result<ClusterTask, StoreError> in
                        Result { () throws(StoreError) -> ClusterTask in
                            try Operations.reportTaskStatus(
                                item.taskID, report: item.report, state: &state, now: now)
                        }
                    }
                }
                for (queued, result) in zip(batch, results) { queued.answer.resume(with: result) }
            } catch {
                for queued in batch { queued.answer.resume(throwing: error) }
            }
        }
        reportWriteRunning = false
    }

    /// Longest task-report message kept, in UTF-8 bytes; longer ones are cut (on a character).
    public static let maxReportMessageBytes = 1024

    static func boundedMessage(_ message: String) -> String {
        guard message.utf8.count > maxReportMessageBytes else { return message }
        let marker = " [truncated]"
        var kept = Substring(message.prefix(maxReportMessageBytes))
        while kept.utf8.count > maxReportMessageBytes - marker.utf8.count { kept = kept.dropLast() }
        return kept + marker
    }

    /// Removes a node (a ready one only with `force`). Its tasks' addresses and its load balancers
    /// are quarantined for `AllocatorConfig.quarantineSeconds`: its processes may still use them.
    public func removeNode(_ nameOrID: String, force: Bool) async throws {
        let now = clock()
        let quarantine = config.allocator.quarantineSeconds
        try await apply { state in
            try Operations.removeNode(
                nameOrID, force: force, state: &state, now: now, quarantineSeconds: quarantine)
        }
    }

    public func register(_ registration: NodeRegistration) async throws -> Node {
        let id = ObjectID.make()
        let heartbeats = heartbeats
        let now = clock()
        let (node, revision) = try await store.write { state in
            let node = try Operations.registerNode(registration, id: id, state: &state)
            // Seen in the same write: a pass queued behind it must not judge it by an old time.
            heartbeats.record(node.id, at: now)
            return node
        }
        try await reconciled(through: revision)
        return await store.current().state.nodes[node.id] ?? node
    }

    /// A heartbeat is a memory write; only a DOWN node coming back writes to the store. It reads the
    /// last commit without entering the manager's actor or the feeds' lock, so it never queues
    /// behind writes, task reports or a feed update (1,000 agents reporting at once made heartbeats
    /// wait seconds there; issue 12).
    nonisolated public func heartbeat(_ nodeID: String) async throws -> HeartbeatResponse {
        guard let node = await store.current().state.nodes[nodeID] else {
            throw StoreError.notFound("no node \(nodeID)")
        }
        // Recorded before reconciling, so a DOWN node's first heartbeat brings it back.
        heartbeats.record(nodeID, at: clock())
        let state = node.state == .down ? try await bringBack(nodeID) : node.state
        return HeartbeatResponse(periodSeconds: config.orchestrator.heartbeatPeriod, state: state)
    }

    private func bringBack(_ nodeID: String) async throws -> NodeState {
        let (_, revision) = try await store.write { state in
            try Operations.heartbeat(nodeID, state: &state)
        }
        try await reconciled(through: revision)
        return await store.current().state.nodes[nodeID]?.state ?? .ready
    }

    /// Reconciles after commits no pass has seen yet and every `tickSeconds`, until cancelled.
    public func run() async {
        let commits = await store.subscribe()
        let tick = config.tickSeconds
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await revision in commits { try? await self.reconciled(through: revision) }
            }
            group.addTask {
                // Timers (heartbeats, drains, health, update delays) are checked by every pass; a
                // full pass costs in proportion to the cluster, so it runs less often.
                let everyFull = max(1, Int((self.config.fullPassSeconds / max(tick, 0.001)).rounded()))
                var ticks = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(tick))
                    ticks += 1
                    _ = try? await self.reconcile(scope: ticks % everyFull == 0 ? .full : .changes)
                }
            }
            await group.waitForAll()
        }
    }

    // MARK: feed

    /// Feeds follow every commit from now on (idempotent).
    private func attachFeeds() async {
        guard !feedsAttached else { return }
        feedsAttached = true
        let feeds = feeds
        feeds.setIdentity(await store.identity)
        _ = await store.observeCommits { batch in feeds.apply(batch) }
        let period = config.feedKeepaliveSeconds
        Task { [weak feeds] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(period))
                guard let feeds else { return }
                feeds.keepaliveTick()
            }
        }
    }

    /// The node's feed: a COMPLETE view (or an INCREMENTAL from `since` when `store` names this
    /// store's history and its change log reaches back), then INCREMENTAL changes that touch the
    /// node's view, and keep-alives. A node has one feed: a new one ends the one before. The
    /// first view is built by the connection's task, not on the manager's actor.
    nonisolated public func feed(nodeID: String, since: UInt64?, store storeIdentity: String? = nil)
        async throws -> FeedSubscription
    {
        await attachFeeds()
        let feeds = feeds
        let (token, revision, state) = try feeds.subscribe(nodeID: nodeID)
        let identity = await store.identity
        if let since, storeIdentity == identity, since <= revision,
            revision - since <= config.maxResumeRevisions,
            let old = try await store.state(at: since)
        {
            let changes = feedDiff(
                from: NodeView.compute(old, nodeID: nodeID), to: NodeView.compute(state, nodeID: nodeID))
            let first: FeedMessage =
                changes.isEmpty && since == revision
                ? .keepalive(revision: revision, store: identity)
                : .incremental(from: since, to: revision, changes: changes, store: identity)
            feeds.setFirst(try FeedLine.encode(first), nodeID: nodeID, token: token)
        }
        return FeedSubscription(
            next: { await feeds.next(nodeID: nodeID, token: token) },
            cancel: { feeds.cancel(nodeID: nodeID, token: token) })
    }
}
