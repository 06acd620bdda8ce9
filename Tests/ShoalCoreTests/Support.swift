import Foundation
import ShoalModel
import Synchronization
import Testing

@testable import ShoalCore

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let value: Mutex<Double>

    init(_ start: Double = 1_000_000) { value = Mutex(start) }

    var now: Double { value.withLock { $0 } }

    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }

    var function: @Sendable () -> Double { { self.now } }
}

/// SplitMix64: a small seeded generator so a failing property run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func ip(_ text: String) -> IPv4Address {
    guard let address = IPv4Address(text) else { fatalError("bad test address \(text)") }
    return address
}

func cidr(_ text: String) -> CIDR {
    guard let value = CIDR(text) else { fatalError("bad test prefix \(text)") }
    return value
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "shoal-core-\(getpid())-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A manager over a store, with a hand-moved clock, and fake agents that act on what they are told.
struct Harness {
    let clock: TestClock
    var manager: Manager
    let directory: String?

    static func make(
        directory: String? = nil, drainSeconds: Double = 1, clock: TestClock = TestClock(),
        tickSeconds: Double = 1, allocator: AllocatorConfig = AllocatorConfig()
    ) async throws -> Harness {
        let store = try SQLiteStore(directory: directory)
        var config = ManagerConfig(allocator: allocator, feedKeepaliveSeconds: 0.2, tickSeconds: tickSeconds)
        config.orchestrator.drainSeconds = drainSeconds
        let manager = Manager(store: store, config: config, clock: clock.function)
        try await manager.start()
        return Harness(clock: clock, manager: manager, directory: directory)
    }

    /// The same data directory opened by a new manager, as after a restart.
    func restarted() async throws -> Harness {
        try await Harness.make(
            directory: directory, drainSeconds: manager.config.orchestrator.drainSeconds, clock: clock)
    }

    var state: ClusterState { get async { await manager.store.current().state } }

    /// The indexes the store's writes keep (its committed snapshots carry none).
    var keptIndex: ClusterIndex {
        get async { await (manager.store as? SQLiteStore)?.keptIndex ?? ClusterIndex() }
    }

    @discardableResult
    func addNode(_ name: String, address: String) async throws -> Node {
        try await manager.register(NodeRegistration(name: name, address: ip(address)))
    }

    @discardableResult
    func network(_ spec: NetworkSpec) async throws -> Network {
        let config = manager.config.allocator
        return try await manager.apply { state in
            try Operations.createNetwork(spec, id: ObjectID.make(), state: &state, config: config)
        }
    }

    @discardableResult
    func service(_ spec: ServiceSpec) async throws -> Service {
        let config = manager.config.allocator
        return try await manager.apply { state in
            try Operations.createService(spec, id: ObjectID.make(), state: &state, config: config)
        }
    }

    @discardableResult
    func update(_ name: String, _ change: @Sendable (inout ServiceSpec) -> Void) async throws -> Service {
        let config = manager.config.allocator
        return try await manager.apply { state in
            guard let service = state.service(named: name) else { throw StoreError.notFound(name) }
            var spec = service.spec
            change(&spec)
            return try Operations.updateService(
                name, version: service.version, spec: spec, state: &state, config: config)
        }
    }

    /// Every node in `alive` heartbeats.
    func heartbeat(_ alive: [String]) async throws {
        for id in alive { _ = try await manager.heartbeat(id) }
    }

    /// Agents on the nodes in `alive` start what should run and stop what should stop.
    func agentsAct(on alive: Set<String>, failing: @Sendable (ClusterTask) -> Bool = { _ in false })
        async throws
    {
        let tasks = await state.tasks.values.filter { task in
            task.nodeID.map(alive.contains) == true && !task.state.isTerminal
        }
        for task in tasks.sorted(by: { $0.id < $1.id }) {
            guard let nodeID = task.nodeID else { continue }
            let next: TaskState?
            switch (task.desiredState, task.state) {
            case (.shutdown, _): next = .shutdown
            case (.running, .assigned), (.draining, .assigned):
                next = failing(task) ? .failed : .running
            default: next = nil
            }
            guard let next else { continue }
            let now = clock.now
            _ = try await manager.apply { state in
                try Operations.reportTaskStatus(
                    task.id, report: TaskStatusReport(nodeID: nodeID, state: next), state: &state, now: now)
            }
        }
    }

    /// Heartbeats, agent actions and reconciles until nothing changes (or `rounds` passes).
    func settle(alive: [String], rounds: Int = 20, step: Double = 0.5) async throws {
        var last: UInt64 = 0
        for _ in 0..<rounds {
            clock.advance(step)
            try await heartbeat(alive)
            try await agentsAct(on: Set(alive))
            try await manager.reconcile()
            let revision = await manager.store.current().revision
            if revision == last { return }
            last = revision
        }
    }
}

extension ClusterState {
    func tasks(of service: String) -> [ClusterTask] {
        guard let id = self.service(named: service)?.id else { return [] }
        return tasks.values.filter { $0.serviceID == id }.sorted { $0.name < $1.name }
    }

    func running(_ service: String) -> [ClusterTask] {
        tasks(of: service).filter { $0.desiredState == .running && $0.state == .running }
    }
}
