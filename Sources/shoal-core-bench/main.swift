// The orchestration core at scale, in one process: the real Manager (SQLite store on disk with
// synchronous=FULL, allocator, orchestrator, feeds) driven by simulated agents that register,
// heartbeat every period, hold their feeds and report their tasks running. No HTTP: agents call
// the Manager as the API handlers do, and every feed message is encoded as the API would send it.
//
//   shoal-core-bench [--nodes 1000] [--networks 100] [--tasks 100000] [--replicas 10]
//                    [--clients 256] [--deadline 120] [--samples 20] [--idle 10] [--monitor 0]
//                    [--in-memory 0]
//
// --monitor S prints every S seconds where the memory is: RSS, what the feeds hold (tables, logs),
// the bytes of feed lines the simulated agents hold, and malloc_stats on stderr (heap in use versus
// held); at the end RSS before and after malloc_trim.
import Foundation
import ShoalCore
import ShoalModel

let nodes = option("--nodes", 1000)
let networks = option("--networks", 100)
let taskCount = option("--tasks", 100_000)
let replicas = option("--replicas", 10)
let deadline = Double(option("--deadline", 120))
let samples = option("--samples", 20)
let idleSeconds = Double(option("--idle", 10))
let clients = option("--clients", 256)
let monitorSeconds = option("--monitor", 0)
let services = max(1, taskCount / replicas)

let directory = NSTemporaryDirectory() + "shoal-core-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: directory) }
// --in-memory 1: no disk under the store (to tell the syncs' share of the times).
let store: any ClusterStore = try SQLiteStore(directory: option("--in-memory", 0) == 1 ? nil : directory)
// Every node holds a load-balancer address on ingress: a /20 holds 4,094 (the default /24, 254).
let ingressSubnet = CIDR(network: IPv4Address(0x0A00_0000), clampedPrefix: 20)
let manager = Manager(
    store: store, config: ManagerConfig(allocator: AllocatorConfig(ingressSubnet: ingressSubnet)))
try await manager.start()
let loop = Task { await manager.run() }
let ledger = FeedLedger()
let started = now()
let monitor = Task {
    guard monitorSeconds > 0 else { return }
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(monitorSeconds))
        let held = ledger.heldBytes
        // malloc's own figures go to stderr, after a line that says when.
        FileHandle.standardError.write(Data("[\(format(now() - started, 0)) s]\n".utf8))
        GlibcMalloc.printStats()
        let state = await store.current().state
        print(
            "[\(format(now() - started, 0)) s] RSS \(format(residentMiB(), 0)) MiB; agents hold \(held.now / 1024) KiB"
                + " (peak \(held.peak / 1024) KiB); \(state.tasks.count) tasks; \(manager.feedStatistics)")
    }
}
print(
    "shoal-core-bench: \(nodes) nodes, \(networks) networks, \(services) services x \(replicas) replicas"
        + " = \(services * replicas) tasks (in-process agents, store in \(directory))")

// Nodes register, then heartbeat every period (spread over it) and hold their feeds.
var nodeIDs: [String] = []
for index in 0..<nodes {
    let address = IPv4Address(0xAC10_0000 + UInt32(index) + 10)
    let node = try await manager.register(NodeRegistration(name: "node\(index)", address: address))
    nodeIDs.append(node.id)
}
print("registered \(nodes) nodes in \(format(now() - started)) s")
let heartbeatCount = HeartbeatCounter()
let heartbeats = Task {
    let period = manager.config.orchestrator.heartbeatPeriod
    while !Task.isCancelled {
        let round = now()
        for (index, id) in nodeIDs.enumerated() {
            let due = round + period * Double(index) / Double(nodeIDs.count)
            let wait = due - now()
            if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
            if Task.isCancelled { return }
            // Each agent heartbeats on its own: a slow answer to one does not delay the others.
            Task {
                let sent = now()
                _ = try? await manager.heartbeat(id)
                heartbeatCount.add(now() - sent)
            }
        }
    }
}
let agents = Task {
    await withTaskGroup(of: Void.self) { group in
        for id in nodeIDs {
            group.addTask {
                try? await SimulatedAgent(nodeID: id, manager: manager, ledger: ledger).run()
            }
        }
    }
}

// Networks (a /20 each: every node may need a load-balancer address on each), then services.
let config = manager.config.allocator
let createStart = now()
var networkIDs: [String] = []
for index in 0..<networks {
    let subnet = CIDR(network: IPv4Address(0x0A80_0000 + UInt32(index) << 12), clampedPrefix: 20)
    let spec = NetworkSpec(name: "net\(index)", subnet: subnet)
    let network = try await manager.apply { state in
        try Operations.createNetwork(spec, id: ObjectID.make(), state: &state, config: config)
    }
    networkIDs.append(network.id)
}
print(
    "created \(networks) networks in \(format(now() - createStart)) s (one at a time, each a durable commit)")
// `--bulk`: all services in one write (see BulkCluster); else API clients create them concurrently,
// `clients` requests in flight.
let bulk = CommandLine.arguments.contains("--bulk")
if bulk {
    try await BulkCluster.create(
        services: services, replicas: replicas, networkIDs: networkIDs, manager: manager, config: config)
}
await withTaskGroup(of: Void.self) { group in
    for index in 0..<(bulk ? 0 : services) {
        if index >= clients { await group.next() }
        let spec = ServiceSpec(
            name: "svc\(index)", replicas: replicas, command: ["sleep", "inf"],
            networks: [NetworkAttachment(target: networkIDs[index % networks])])
        group.addTask {
            _ = try? await manager.apply { state in
                try Operations.createService(spec, id: ObjectID.make(), state: &state, config: config)
            }
        }
        if now() - createStart > deadline { break }
    }
}
let createdIn = now() - createStart
let created = await store.current().state.services.count
print("created \(networks) networks and \(created) services in \(format(createdIn)) s")

/// Polls until `done` holds for the counts or the deadline passes; returns the seconds since `from`.
func waitFor(_ what: String, from: Double, _ done: @escaping (Int, Int, Int) -> Bool) async -> Double? {
    while now() - from < deadline {
        let tasks = await store.current().state.tasks.values
        let live = tasks.filter { $0.desiredState == .running }
        let placed = live.filter { $0.nodeID != nil }.count
        let running = live.filter { $0.state == .running }.count
        if done(live.count, placed, running) { return now() - from }
        try? await Task.sleep(for: .milliseconds(100))
    }
    let tasks = await store.current().state.tasks.values
    let placed = tasks.filter { $0.desiredState == .running && $0.nodeID != nil }.count
    let running = tasks.filter { $0.desiredState == .running && $0.state == .running }.count
    print("  \(what): not done after \(format(deadline, 0)) s: \(placed) placed, \(running) running")
    return nil
}

let wanted = services * replicas
let placedIn = await waitFor("placement", from: createStart) { live, placed, _ in
    live == wanted && placed == wanted
}
print("placed \(wanted) tasks: \(placedIn.map { format($0) + " s" } ?? "no")")
let runningIn = await waitFor("running", from: createStart) { _, _, running in running == wanted }
print("all running: \(runningIn.map { format($0) + " s" } ?? "no")")

// Scale requests: down by one, then back up. Down: the last slot's endpoints turn draining on
// every feed whose view holds them. Up: the new task reaches its node's feed.
var latencies: [Double] = []
if runningIn != nil {
    for sample in 0..<samples {
        let name = "svc\(sample * max(1, services / max(1, samples)))"
        let state = await store.current().state
        guard let service = state.service(named: name),
            let last = state.tasks.values.filter({
                $0.serviceID == service.id && $0.slot == replicas && $0.desiredState == .running
            }).first,
            let networkID = service.networkIDs.first
        else { continue }
        let key = "endpoint/\(networkID)/\(last.id)"
        // Every node with a live task on the network holds the endpoint in its view.
        let holders = Set(
            state.tasks.values.compactMap { task in
                !task.state.isTerminal && task.endpoints.contains { $0.networkID == networkID }
                    ? task.nodeID : nil
            })
        ledger.watch(key: key, nodes: holders)
        var spec = service.spec
        spec.replicas = replicas - 1
        let asked = now()
        let down = spec
        _ = try await manager.apply { state in
            try Operations.updateService(
                name, version: service.version, spec: down, state: &state, config: config)
        }
        while ledger.watchDone == nil && now() - asked < 10 { try await Task.sleep(for: .milliseconds(1)) }
        latencies.append((ledger.watchDone ?? .infinity) - asked)
        // Back up again (not measured), so the next sample starts from the same size.
        let scaled = await store.current().state.service(named: name)
        spec.replicas = replicas
        let up = spec
        _ = try? await manager.apply { state in
            try Operations.updateService(
                name, version: scaled?.version, spec: up, state: &state, config: config)
        }
    }
}

// Steady state: nothing changes but heartbeats and keep-alives.
try await Task.sleep(for: .seconds(3))
let idleCPUStart = cpuSeconds()
let idleStart = now()
let beatsBefore = heartbeatCount.count
try await Task.sleep(for: .seconds(idleSeconds))
let idleCPU = (cpuSeconds() - idleCPUStart) / (now() - idleStart)
let beats = heartbeatCount.count - beatsBefore
let totals = ledger.totals

print("")
print(
    "| tasks | nodes | networks | services | place all | all running | scale->feeds p50 | p99 | peak RSS | idle CPU | heartbeat p99 |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|")
print(
    "| \(wanted) | \(nodes) | \(networks) | \(services) | \(placedIn.map { format($0, 2) + " s" } ?? "> \(format(deadline, 0)) s")"
        + " | \(runningIn.map { format($0, 2) + " s" } ?? "> \(format(deadline, 0)) s")"
        + " | \(latencies.isEmpty ? "-" : format(percentile(latencies, 0.5) * 1000, 1) + " ms")"
        + " | \(latencies.isEmpty ? "-" : format(percentile(latencies, 0.99) * 1000, 1) + " ms")"
        + " | \(format(peakResidentMiB(), 0)) MiB | \(format(idleCPU, 3)) CPU-s/s (\(beats) heartbeats)"
        + " | \(format(heartbeatCount.p99 * 1000, 1)) ms |")
// `--resync N`: N agents take a COMPLETE of their view at once, at the final size (issue 12).
let resync = option("--resync", 0)
if resync > 0 { print(await FirstSync.run(nodes: Array(nodeIDs.prefix(resync)), manager: manager)) }
if monitorSeconds > 0 {
    // Live heap versus memory malloc keeps after frees: stats on stderr, then RSS before and after a trim.
    let before = residentMiB()
    GlibcMalloc.printStats()
    GlibcMalloc.trim()
    print(
        "state objects (hash tries: a write after a commit copies the nodes on its path): tasks"
            + " \(MemoryLayout<ClusterTask>.stride) B, nodes \(MemoryLayout<Node>.stride) B,"
            + " services \(MemoryLayout<Service>.stride) B")
    print(
        "RSS \(format(before, 0)) MiB; after malloc_trim \(format(residentMiB(), 0)) MiB; \(manager.feedStatistics)"
    )
}
// What a reconcile pass over the final state costs, on a copy (no store write), every node just
// heard from, median of 3: a full pass (the loop's timer), and one API write (a service scaled
// down by one, then its pass scoped to the change) as the first write after a commit (its maps
// shared with the snapshot, as in the store) and as a later write of the same commit.
let finalState = await store.current().state
let orchestrator = manager.config.orchestrator
func timePass(_ state: inout ClusterState, _ scope: PassScope, _ write: (inout ClusterState) -> Void)
    -> Double
{
    let seen = Dictionary(uniqueKeysWithValues: state.nodes.keys.map { ($0, Date().timeIntervalSince1970) })
    let start = now()
    write(&state)
    Orchestrator.reconcile(
        &state, now: Date().timeIntervalSince1970, lastHeartbeat: seen, config: orchestrator,
        makeID: ObjectID.make, scope: scope)
    return now() - start
}
func scaleDown(_ name: String) -> (inout ClusterState) -> Void {
    { state in
        guard let service = state.service(named: name) else { return }
        var spec = service.spec
        spec.replicas = max(0, (spec.replicas ?? 1) - 1)
        do {
            _ = try Operations.updateService(
                name, version: service.version, spec: spec, state: &state, config: config)
        } catch {
            print("scale of \(name) refused: \(error)")
        }
    }
}
var fullTimes: [Double] = []
var firstWriteTimes: [Double] = []
var laterWriteTimes: [Double] = []
/// The state as a write finds it after a commit: its maps shared with the committed snapshot, its
/// indexes its own (built by an untimed pass; the snapshot keeps none, as in the store).
func workingState() -> ClusterState {
    var working = finalState
    _ = timePass(&working, .changes) { _ in }
    return working
}
for round in 0..<3 {
    var working = workingState()
    fullTimes.append(timePass(&working, .full) { _ in })
    working = workingState()
    firstWriteTimes.append(timePass(&working, .changes, scaleDown("svc\(round)")))
    laterWriteTimes.append(timePass(&working, .changes, scaleDown("svc\(round + 3)")))
}
print(
    "reconcile over \(finalState.tasks.count) tasks: full pass \(format(percentile(fullTimes, 0.5) * 1000, 1)) ms;"
        + " one write (scale by one) with its scoped pass \(format(percentile(firstWriteTimes, 0.5) * 1000, 1)) ms"
        + " as the first write after a commit, \(format(percentile(laterWriteTimes, 0.5) * 1000, 2)) ms after it"
)
print("feed: \(totals.messages) messages, \(totals.bytes / 1_000_000) MB, \(totals.completes) COMPLETE")
heartbeats.cancel()
monitor.cancel()
agents.cancel()
loop.cancel()
// exit skips the defer above.
try? FileManager.default.removeItem(atPath: directory)
exit(0)
