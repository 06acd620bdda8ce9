import Foundation
import Logging
import ShoalModel
import Synchronization

/// The node's data plane: turns the feed view into kernel state and running tasks. Desired and
/// applied are kept side by side; the kernel is dumped at the first reconcile, after any failure
/// and on the periodic resync, and otherwise only the planned difference is applied.
public actor DataPlane {
    public struct Settings: Sendable {
        /// Full dump-and-diff period: repairs drift made behind the agent's back.
        public var resyncSeconds: Double = 30
        public var tickSeconds: Double = 0.2
        public init() {}
    }

    /// What the admin API serves.
    public struct Snapshot: Codable, Sendable {
        public var revision: UInt64?
        public var desired: DesiredNode
        public var applied: ObservedNode?
        public var tasks: [String: TaskSupervisor.TaskStatus]
        public var lastErrors: [String]
        public var reconciles: Int
        /// Removals of wanted objects the kernel announced (each triggers a dump and repair).
        public var drifts: Int
        public var lastOps: [String]
        public var lastSyncMilliseconds: Double
        /// Local tasks' health checks (HealthMonitor).
        public var health: [String: HealthMonitor.Status]
        /// Every endpoint of the view by task name: up, unhealthy or draining, as the manager says.
        public var endpointStates: [String: EndpointState]
    }

    let nodeID: String
    let kernel: any OverlayKernel
    let supervisor: TaskSupervisor
    let health: HealthMonitor?
    let config: OverlayConfig
    let settings: Settings
    /// 127.0.0.11 in every running task (nil: no DNS, as in unit tests).
    let dns: TaskDNS?
    /// Service VIPs on IPVS (nil when the kernel has no IPVS).
    let mesh: MeshReconciler?
    /// Errors (warning) and each pass that changed the kernel (info, a few ops named): the log
    /// shows what the node did and when, not only the admin API's last state.
    let logger: Logger
    private var view: [String: FeedObject]?
    private var revision: UInt64?
    private var desired = DesiredNode()
    private var applied: ObservedNode?
    private var needsDump = true
    private var errors: [String] = []
    private var reconciles = 0
    private var lastOps: [String] = []
    private var lastSync: Double = 0
    private var failures = 0
    private var drifts = 0
    private var extraLive: Set<String> = []
    private var dirty: AsyncStream<Void>.Continuation?
    private var nextIndex: Int32 = 1 << 30
    /// When each step of a change happened (the convergence benchmark's split).
    public nonisolated let timeline = ConvergenceTimeline()
    private var viewAt: Double = 0
    /// View keys changed since the mesh's last pass (nil: unknown): it plans only what they touch.
    private var meshChanged: Set<String>? = []

    public init(
        nodeID: String, kernel: any OverlayKernel, supervisor: TaskSupervisor, config: OverlayConfig,
        settings: Settings = Settings(), health: HealthMonitor? = nil, dns: TaskDNS? = nil,
        mesh: MeshReconciler? = nil, logger: Logger = Logger(label: "shoald.dataplane")
    ) {
        self.nodeID = nodeID
        self.kernel = kernel
        self.supervisor = supervisor
        self.health = health
        self.config = config
        self.settings = settings
        self.dns = dns
        self.mesh = mesh
        self.logger = logger
    }

    /// A new view from the feed (after a COMPLETE or an INCREMENTAL that applied).
    /// `changed`: the keys that differ from the last view, when the feed says (nil: unknown).
    public func update(view: [String: FeedObject], revision: UInt64?, changed: Set<String>? = nil) async {
        self.view = view
        self.revision = revision
        meshChanged = changed.flatMap { keys in meshChanged.map { $0.union(keys) } }
        viewAt = Date().timeIntervalSince1970
        dns?.update(view: view, changed: changed)
        dirty?.yield()
        await health?.update(view: view)
    }

    /// Reconciles on every change, on ticks when a workload ended, on the resync timer, and after
    /// failures with backoff. Nothing is touched before the first view arrives: an empty desired
    /// state must never wipe the kernel at start.
    public func run() async {
        let (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        dirty = continuation
        await supervisor.adopt()
        await kernel.watch { event in await self.drift(event) }
        let settings = settings
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(settings.tickSeconds))
                    let ended = await self.supervisor.tick()
                    let draining = await self.mesh?.draining ?? false
                    if ended || draining { await self.kick() }
                    await self.health?.tick(live: await self.supervisor.live)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(
                        for: .seconds(settings.resyncSeconds * Double.random(in: 0.9...1.1)))
                    await self.requestResync()
                }
            }
            group.addTask {
                for await _ in changes {
                    let delay = await self.reconcile()
                    if let delay {
                        try? await Task.sleep(for: .seconds(delay))
                        await self.requestResync()
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    func kick() { dirty?.yield() }

    /// A removal the kernel announced: drift when the object is still wanted (someone deleted it
    /// by hand), the echo of our own delete otherwise.
    public func drift(_ event: DriftEvent) {
        let wanted: Bool
        switch event {
        case .fdbRemoved(let network, let mac):
            wanted = desired.networks[network]?.peers.contains { $0.mac.description == mac } ?? false
        case .neighbourRemoved(let network, let address):
            wanted = desired.networks[network]?.peers.contains { $0.address.description == address } ?? false
        case .linkRemoved(let network, let name):
            wanted =
                desired.networks[network] != nil
                && (name == KernelNames.bridge || name == KernelNames.vxlan
                    || desired.tasks.values.contains { $0.run && KernelNames.hostPort(task: $0.id) == name })
        case .overflow:
            wanted = true
        }
        if wanted {
            drifts += 1
            requestResync()
        }
    }

    /// The next reconcile dumps the kernel first (drift repair).
    public func requestResync() {
        needsDump = true
        dirty?.yield()
    }

    /// One pass as if `ids` had live processes (benchmarks: keeps a network without a workload).
    public func reconcileKeeping(_ ids: Set<String>) async -> Double? {
        extraLive = ids
        defer { extraLive = [] }
        return await reconcile()
    }

    /// One pass. Returns a retry delay after a failure (jittered doubling from 50 ms, capped at 30 s).
    @discardableResult
    public func reconcile() async -> Double? {
        guard let view else { return nil }
        // Taken with the view it belongs to (a failed pass is followed by a full resync).
        let changed = meshChanged
        meshChanged = []
        let started = Date()
        let viewRevision = revision
        var meshMilliseconds: Double?
        reconciles += 1
        let live = await supervisor.live.union(extraLive)
        desired = DesiredNode(view: view, nodeID: nodeID, liveTasks: live)
        var failed = false
        let resync = needsDump || applied == nil
        if resync {
            do {
                applied = try await kernel.dump()
                needsDump = false
            } catch {
                note("dump: \(error)")
                failed = true
            }
        }
        var ops: [OverlayOp] = []
        var meshOps: [String] = []
        if var state = applied {
            let tasks = desired.tasksNeedingNetwork(liveTasks: live)
            ops = OverlayPlanner.plan(
                desired: desired, tasks: tasks, observed: state, config: config, keep: live)
            let running = Set(desired.tasks.values.filter(\.run).map(\.id))
            await dns?.keep(running)
            let results = await kernel.apply(batch: ops)
            for (op, error) in zip(ops, results) {
                if let error {
                    note("\(error)")
                    failed = true
                    continue
                }
                state.record(op, config: config, nextIndex: &nextIndex)
                if case .replaceFDB(let network, let peer) = op {
                    timeline.mark("peer/\(network)/\(peer.mac)", "view", at: viewAt)
                    timeline.mark("peer/\(network)/\(peer.mac)", "programmed")
                }
            }
            applied = state
            let pending = OverlayPlanner.plan(
                desired: desired, tasks: tasks, observed: state, config: config, keep: live)
            var ready = Set(desired.tasks.keys)
            for op in pending {
                switch op {
                case .createTaskNamespace(let id), .attach(let id, _): ready.remove(id)
                case .ensureNetwork(let network, _):
                    for task in desired.tasks.values
                    where task.attachments.contains(where: { $0.networkID == network.id }) {
                        ready.remove(task.id)
                    }
                default: break
                }
            }
            for id in running { timeline.mark("task/\(id)", "view", at: viewAt) }
            for id in ready.intersection(running) { timeline.mark("task/\(id)", "applied") }
            for error in await dns?.serve(ready.intersection(running)) ?? [] {
                note(error)
                failed = true
            }
            if dns != nil { for id in ready.intersection(running) { timeline.mark("task/\(id)", "dns") } }
            for error in await supervisor.sync(desired.tasks, ready: ready) { note(error) }
            for id in await supervisor.live { timeline.mark("task/\(id)", "spawned") }
            if let mesh {
                let networks = Set(desired.networks.keys.filter { state.networks[$0]?.bridgeIndex != nil })
                let egress = state.tasks.compactMapValues { $0.egress?.address }
                let meshStarted = Date()
                let pass = await mesh.reconcile(
                    view: view, changed: changed, networks: networks, egress: egress, resync: resync,
                    now: Date().timeIntervalSince1970)
                meshMilliseconds = Date().timeIntervalSince(meshStarted) * 1000
                for error in pass.errors { note(error) }
                failed = failed || !pass.errors.isEmpty
                meshOps = pass.ops.map(\.description)
            }
        }
        lastSync = Date().timeIntervalSince(started) * 1000
        if !ops.isEmpty || !meshOps.isEmpty {
            lastOps = ops.map(\.description) + meshOps
            logPass(
                overlay: ops.count, mesh: meshOps, revision: viewRevision, milliseconds: lastSync,
                meshMilliseconds: meshMilliseconds)
        }
        guard failed else {
            failures = 0
            return nil
        }
        needsDump = true
        failures += 1
        let base = min(30, 0.05 * pow(2, Double(min(failures, 10))))
        return base * Double.random(in: 0.5...1.0)
    }

    /// One line per pass that changed something; the mesh's ops are named (at most 8).
    /// `revision`: the view's when the pass began; the times are the whole pass and its mesh part
    /// (nil: no mesh on this node).
    func logPass(
        overlay: Int, mesh: [String], revision: UInt64?, milliseconds: Double, meshMilliseconds: Double?
    ) {
        let named = mesh.prefix(8).joined(separator: ", ") + (mesh.count > 8 ? ", ..." : "")
        let meshTime = meshMilliseconds.map { " (mesh \(Int($0)) ms)" } ?? ""
        logger.info(
            "pass on the view of revision \(revision ?? 0) in \(Int(milliseconds)) ms\(meshTime): \(overlay) overlay op(s), \(mesh.count) mesh op(s)\(mesh.isEmpty ? "" : ": " + named)"
        )
    }

    func note(_ error: String) {
        logger.warning("data plane: \(error)")
        let stamp = ISO8601DateFormatter().string(from: Date())
        errors.append("\(stamp) \(error)")
        if errors.count > 50 { errors.removeFirst(errors.count - 50) }
    }

    public var snapshot: Snapshot {
        get async {
            Snapshot(
                revision: revision, desired: desired, applied: applied, tasks: await supervisor.statuses,
                lastErrors: errors, reconciles: reconciles, drifts: drifts, lastOps: lastOps,
                lastSyncMilliseconds: lastSync, health: await health?.statuses ?? [:],
                endpointStates: endpointStates)
        }
    }

    var endpointStates: [String: EndpointState] {
        var states: [String: EndpointState] = [:]
        for case .endpoint(let endpoint) in (view ?? [:]).values {
            states[endpoint.taskName] = endpoint.state
        }
        return states
    }

    /// The admin API's answers, encoded on request (not on every reconcile).
    public func snapshotJSON() async -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(await snapshot)).map(Array.init) ?? Array("{}".utf8)
    }

    /// When each peer's FDB entry was first programmed ("network/mac" -> seconds since 1970).
    public func programmedJSON() -> [UInt8] {
        timeline.json(prefix: "peer/", step: "programmed")
    }
}
