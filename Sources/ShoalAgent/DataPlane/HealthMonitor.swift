import Foundation
import ShoalModel

/// Probes the health checks of this node's running tasks and tells the manager when a task's
/// health changes (never per probe). Docker's rules: a task is `starting` until a probe passes;
/// `retries` failures in a row make it `unhealthy` (failures in the start period do not count
/// while it is still starting); one pass makes it `healthy` again.
public actor HealthMonitor {
    /// Sends one task's new health; false when it should be retried.
    public typealias Reporter =
        @Sendable (_ taskID: String, _ health: TaskHealth, _ message: String?) async -> Bool

    /// A task's health as the admin API shows it.
    public struct Status: Codable, Equatable, Sendable {
        public var health: TaskHealth
        public var failures: Int
        public var probes: Int
        public var lastError: String?
    }

    struct Target {
        var check: HealthCheck
        var environment: [String]
    }

    struct Tracked {
        var status: Status
        var startedAt: Double
        var nextProbe: Double
        var probing = false
    }

    let namespaces: NamespaceFiles
    let report: Reporter
    private var targets: [String: Target] = [:]
    private var tracked: [String: Tracked] = [:]
    /// The newest health of each task not yet accepted by the manager (older ones are superseded).
    private var unsent: [String: (TaskHealth, String?)] = [:]
    private var sending = false

    public init(namespaces: NamespaceFiles, report: @escaping Reporter) {
        self.namespaces = namespaces
        self.report = report
    }

    /// The tasks of the view that should run and have a check.
    public func update(view: [String: FeedObject]) {
        var next: [String: Target] = [:]
        for case .task(let task) in view.values where task.desiredState != .shutdown {
            if let check = task.spec.healthCheck {
                next[task.id] = Target(check: check, environment: task.spec.env)
            }
        }
        targets = next
    }

    public var statuses: [String: Status] { tracked.mapValues(\.status) }

    /// Starts probing tasks that came alive, forgets those gone, and runs the probes that are due.
    public func tick(live: Set<String>, now: Double = Date().timeIntervalSince1970) {
        for id in tracked.keys where !live.contains(id) || targets[id] == nil {
            tracked[id] = nil
            unsent[id] = nil
        }
        for (id, target) in targets where live.contains(id) {
            if tracked[id] == nil {
                // The first probe comes at most 1 s after the start (Docker waits a whole interval):
                // a new task joins its VIP once healthy, so sooner is better.
                tracked[id] = Tracked(
                    status: Status(health: .starting, failures: 0, probes: 0), startedAt: now,
                    nextProbe: now + min(target.check.effectiveInterval, 1))
            }
            guard var entry = tracked[id], !entry.probing, now >= entry.nextProbe else { continue }
            entry.probing = true
            tracked[id] = entry
            let namespace = namespaces.path(KernelNames.taskNamespace(id))
            Task {
                let error = await HealthProbe.run(
                    target.check, namespace: namespace, environment: target.environment)
                self.record(id, error: error, check: target.check)
            }
        }
    }

    func record(_ id: String, error: String?, check: HealthCheck, now: Double = Date().timeIntervalSince1970)
    {
        guard var entry = tracked[id] else { return }
        entry.probing = false
        entry.nextProbe = now + check.effectiveInterval
        let before = entry.status.health
        entry.status = Self.next(
            entry.status, error: error, check: check,
            inStartPeriod: now < entry.startedAt + check.effectiveStartPeriod)
        tracked[id] = entry
        if entry.status.health != before {
            unsent[id] = (entry.status.health, error.map { "health check failed: \($0)" })
            if !sending {
                sending = true
                Task { await self.send() }
            }
        }
    }

    /// Docker's state machine for one probe result.
    static func next(_ status: Status, error: String?, check: HealthCheck, inStartPeriod: Bool) -> Status {
        var status = status
        status.probes += 1
        status.lastError = error
        guard error != nil else {
            status.failures = 0
            status.health = .healthy
            return status
        }
        if inStartPeriod && status.health == .starting { return status }
        status.failures += 1
        if status.failures >= max(1, check.effectiveRetries) { status.health = .unhealthy }
        return status
    }

    /// Delivers the newest health of each task, one at a time, retrying with a pause while the
    /// manager is away; a change made meanwhile replaces the one waiting.
    func send() async {
        var failures = 0
        while let (id, (health, message)) = unsent.first {
            if await report(id, health, message) {
                failures = 0
                if unsent[id]?.0 == health { unsent[id] = nil }
            } else {
                failures += 1
                try? await Task.sleep(for: .seconds(min(5, 0.2 * Double(failures))))
            }
        }
        sending = false
    }
}
