import Foundation
import ShoalModel

public struct ManagerConfig: Sendable, Equatable {
    public var allocator: AllocatorConfig
    public var orchestrator: OrchestratorConfig
    /// Seconds between keep-alive lines on an idle feed.
    public var feedKeepaliveSeconds: Double
    /// The reconciler also runs this often without changes (liveness, drain timers, update delays).
    public var tickSeconds: Double

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

/// A node's open feed: its messages, and `cancel` to stop producing them (the connection closed).
public struct FeedSubscription: Sendable {
    public let messages: AsyncStream<FeedMessage>
    public let cancel: @Sendable () -> Void
}

/// Object ids: 25 random lowercase letters and digits, as Swarm's.
public enum ObjectID {
    public static func make() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<25).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}

/// The manager: the store, the heartbeats seen (kept in memory, as Swarm's dispatcher does), and
/// the reconciler that runs after every change and on a timer.
public actor Manager {
    nonisolated public let store: any ClusterStore
    nonisolated public let config: ManagerConfig
    /// Seconds since 1970; tests pass a clock they move by hand.
    nonisolated public let clock: @Sendable () -> Double
    private var heartbeats: [String: Double] = [:]
    private let startedAt: Double

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
        let allocator = config.allocator
        let id = ObjectID.make()
        _ = try await store.write { state in
            try Operations.initCluster(&state, id: id, config: allocator)
        }
        try await reconcile()
    }

    /// One reconciliation pass, committed as one revision (or none when nothing changed).
    @discardableResult
    public func reconcile() async throws -> UInt64 {
        let now = clock()
        let seen = heartbeats
        let startedAt = startedAt
        let config = config.orchestrator
        let (_, revision) = try await store.write { state in
            // Nodes not heard from since the manager started get a full grace period.
            var lastSeen = seen
            for id in state.nodes.keys where lastSeen[id] == nil { lastSeen[id] = startedAt }
            Orchestrator.reconcile(
                &state, now: now, lastHeartbeat: lastSeen, config: config, makeID: ObjectID.make)
        }
        return revision
    }

    /// Runs an operation in one store write and reconciles after it.
    @discardableResult
    public func apply<T: Sendable>(_ body: @Sendable (inout ClusterState) throws -> T) async throws -> T {
        let (result, _) = try await store.write(body)
        try await reconcile()
        return result
    }

    public func register(_ registration: NodeRegistration) async throws -> Node {
        let id = ObjectID.make()
        let (node, _) = try await store.write { state in
            try Operations.registerNode(registration, id: id, state: &state)
        }
        // Seen now, before reconciling: otherwise the pass would judge it by the manager's start time.
        heartbeats[node.id] = clock()
        try await reconcile()
        return await store.current().state.nodes[node.id] ?? node
    }

    public func heartbeat(_ nodeID: String) async throws -> HeartbeatResponse {
        _ = try await store.write { state in try Operations.heartbeat(nodeID, state: &state) }
        // Recorded before reconciling, so a DOWN node's first heartbeat brings it back.
        heartbeats[nodeID] = clock()
        try await reconcile()
        let state = await store.current().state.nodes[nodeID]?.state ?? .ready
        return HeartbeatResponse(periodSeconds: config.orchestrator.heartbeatPeriod, state: state)
    }

    /// Reconciles after every commit and every `tickSeconds` until cancelled.
    public func run() async {
        let commits = await store.subscribe()
        let tick = config.tickSeconds
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in commits { _ = try? await self.reconcile() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(tick))
                    _ = try? await self.reconcile()
                }
            }
            await group.waitForAll()
        }
    }

    // MARK: feed

    /// The node's feed: a COMPLETE view (or an INCREMENTAL from `since` when the log reaches back),
    /// then INCREMENTAL changes that touch the node's view, and keep-alives.
    public func feed(nodeID: String, since: UInt64?) async throws -> FeedSubscription {
        let commits = await store.subscribe()
        let (revision, state) = await store.current()
        guard state.nodes[nodeID] != nil else { throw StoreError.notFound("no node \(nodeID)") }
        let view = NodeView.compute(state, nodeID: nodeID)
        var first: [FeedMessage] = []
        var sent = revision
        if let since, since <= revision, let old = try await store.state(at: since) {
            let changes = feedDiff(from: NodeView.compute(old, nodeID: nodeID), to: view)
            if changes.isEmpty {
                sent = since
                first.append(.keepalive(revision: since))
            } else {
                first.append(.incremental(from: since, to: revision, changes: changes))
            }
        } else {
            first.append(.complete(revision: revision, objects: view.keys.sorted().compactMap { view[$0] }))
        }
        let store = store
        let keepalive = config.feedKeepaliveSeconds
        let (output, continuation) = AsyncStream<FeedMessage>.makeStream()
        for message in first { continuation.yield(message) }
        enum Event: Sendable {
            case commit, tick
        }
        let (events, eventSink) = AsyncStream<Event>.makeStream()
        let forwarder = Task {
            for await _ in commits { eventSink.yield(.commit) }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(keepalive))
                eventSink.yield(.tick)
            }
        }
        let producer = Task { [view, sent] in
            var view = view
            var sent = sent
            for await event in events {
                switch event {
                case .tick:
                    continuation.yield(.keepalive(revision: sent))
                case .commit:
                    let (now, state) = await store.current()
                    guard now > sent else { continue }
                    let next = NodeView.compute(state, nodeID: nodeID)
                    let changes = feedDiff(from: view, to: next)
                    if !changes.isEmpty {
                        continuation.yield(.incremental(from: sent, to: now, changes: changes))
                        sent = now
                        view = next
                    }
                    // A removed node's stream ends (after emptying its view): it must register again.
                    if state.nodes[nodeID] == nil {
                        continuation.finish()
                        return
                    }
                }
            }
        }
        let stop: @Sendable () -> Void = {
            forwarder.cancel()
            ticker.cancel()
            producer.cancel()
            eventSink.finish()
        }
        continuation.onTermination = { _ in stop() }
        return FeedSubscription(messages: output, cancel: stop)
    }
}
