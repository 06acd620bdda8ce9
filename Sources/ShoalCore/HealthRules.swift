import ShoalModel

/// Health checks on the manager's side: what a valid check is, how an agent's report moves a
/// task's health, and when a task that stays unhealthy is replaced.
enum HealthRules {
    static func validate(_ check: HealthCheck) throws(StoreError) {
        let kinds = [!check.command.isEmpty, check.tcpPort != nil, check.http != nil].filter { $0 }.count
        guard kinds == 1 else {
            throw .invalid(
                field: "healthCheck",
                reason: kinds == 0
                    ? "give a command, a tcpPort or an http probe"
                    : "give only one of command, tcpPort and http")
        }
        if check.tcpPort == 0 { throw .invalid(field: "healthCheck.tcpPort", reason: "must be 1-65535") }
        if let http = check.http {
            if http.port == 0 { throw .invalid(field: "healthCheck.http.port", reason: "must be 1-65535") }
            let printable = http.path.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f }
            guard http.path.hasPrefix("/"), printable, http.path.count <= 1024 else {
                throw .invalid(
                    field: "healthCheck.http.path",
                    reason: "must start with '/' and hold at most 1024 printable characters, no spaces")
            }
        }
        for (field, value) in [
            ("intervalSeconds", check.intervalSeconds), ("timeoutSeconds", check.timeoutSeconds),
        ] {
            if let value, !(value > 0 && value <= 86_400) {
                throw .invalid(field: "healthCheck.\(field)", reason: "must be more than 0 and at most 86400")
            }
        }
        if let start = check.startPeriodSeconds, !(start >= 0 && start <= 86_400) {
            throw .invalid(field: "healthCheck.startPeriodSeconds", reason: "must be 0 to 86400")
        }
        if let retries = check.retries, !(0...1000).contains(retries) {
            throw .invalid(field: "healthCheck.retries", reason: "must be 0 to 1000")
        }
    }

    /// Applies an agent's report (already checked not to move the task backwards). A task with a
    /// check is `starting` once it runs; a health in the report moves it; the same report twice
    /// changes nothing (no new revision, no feed change).
    static func apply(_ report: TaskStatusReport, to task: inout ClusterTask, now: Double) {
        // An unhealthy task stopped by the manager keeps the manager's reason (why it was replaced)
        // rather than the agent's "killed by signal 15".
        let stoppedUnhealthy =
            report.state == .shutdown && task.desiredState == .shutdown && task.health == .unhealthy
        task.state = report.state
        if !stoppedUnhealthy { task.status = report.message ?? report.state.rawValue }
        guard task.spec.healthCheck != nil, report.state == .running else {
            task.unhealthySince = nil
            return
        }
        let health = report.health ?? task.health ?? .starting
        if health == .unhealthy {
            if task.health != .unhealthy { task.unhealthySince = now }
        } else {
            task.unhealthySince = nil
        }
        task.health = health
    }

    /// A running task unhealthy for longer than its check's `replaceAfterSeconds` is told to stop;
    /// the orchestrator starts its replacement in the same pass (Swarm replaces an unhealthy task).
    static func replaceUnhealthy(_ state: inout ClusterState, now: Double) {
        for id in state.index.unhealthy {
            guard let task = state.tasks[id], task.desiredState == .running, task.state == .running,
                task.health == .unhealthy, let since = task.unhealthySince,
                let check = task.spec.healthCheck, now >= since + check.replaceAfterSeconds
            else { continue }
            state.tasks[id]?.desiredState = .shutdown
            state.tasks[id]?.status =
                "unhealthy for more than \(Int(check.replaceAfterSeconds)) s: replaced"
        }
    }
}
