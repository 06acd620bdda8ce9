import ShoalModel
import Testing

@testable import ShoalCore

/// Health checks on the manager: what a report does to the task, its endpoints in every view, the
/// status line, and the replacement of a task that stays unhealthy.
@Suite struct HealthTests {
    func endpointStates(_ state: ClusterState, nodeID: String) -> [String: EndpointState] {
        var states: [String: EndpointState] = [:]
        for case .endpoint(let endpoint) in NodeView.compute(state, nodeID: nodeID).values {
            states[endpoint.taskName] = endpoint.state
        }
        return states
    }

    func report(_ h: Harness, _ task: ClusterTask, _ health: TaskHealth, _ message: String? = nil)
        async throws
        -> ClusterTask
    {
        try await h.manager.report(
            task.id,
            TaskStatusReport(
                nodeID: task.nodeID ?? "", state: .running, message: message, health: health))
    }

    /// Two tasks with a TCP check on a network, running on two of three nodes.
    func twoCheckedTasks() async throws -> (Harness, [String], [ClusterTask]) {
        let h = try await Harness.make()
        var nodes: [String] = []
        for index in 1...3 {
            nodes.append(try await h.addNode("node\(index)", address: "192.168.0.\(index)").id)
        }
        try await h.network(NetworkSpec(name: "front", subnet: cidr("10.1.0.0/24")))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "front")],
                healthCheck: HealthCheck(tcpPort: 80, intervalSeconds: 2, retries: 3)))
        try await h.settle(alive: nodes)
        return (h, nodes, await h.state.running("web"))
    }

    @Test func aTaskJoinsOnceHealthyAndLeavesWhileUnhealthy() async throws {
        let (h, _, tasks) = try await twoCheckedTasks()
        try #require(tasks.count == 2)
        var state = await h.state
        // Running but never probed: starting, weight 0 everywhere, still a peer in every view.
        #expect(state.running("web").allSatisfy { $0.health == .starting })
        // Every node with a task on the network sees every endpoint on it, its own tasks' too.
        let observer = try #require(tasks[1].nodeID)
        #expect(
            endpointStates(state, nodeID: observer) == [tasks[0].name: .unhealthy, tasks[1].name: .unhealthy])
        #expect(state.service(named: "web")?.status == "2/2 tasks running")

        let versionBefore = try #require(state.service(named: "web")?.version)
        _ = try await report(h, tasks[0], .healthy)
        _ = try await report(h, tasks[1], .healthy)
        state = await h.state
        #expect(endpointStates(state, nodeID: observer) == [tasks[0].name: .up, tasks[1].name: .up])

        _ = try await report(h, tasks[0], .unhealthy, "health check failed: connection refused")
        let unhealthy = try #require(await h.state.tasks[tasks[0].id])
        #expect(unhealthy.health == .unhealthy && unhealthy.unhealthySince == h.clock.now)
        #expect(unhealthy.status == "health check failed: connection refused")
        // The same report again changes nothing: no new revision, so no feed change.
        let revision = await h.manager.store.current().revision
        h.clock.advance(0.5)
        _ = try await report(h, tasks[0], .unhealthy, "health check failed: connection refused")
        #expect(await h.manager.store.current().revision == revision)
        #expect(await h.state.tasks[tasks[0].id] == unhealthy)
        _ = try await h.manager.reconcile()
        state = await h.state
        #expect(endpointStates(state, nodeID: observer) == [tasks[0].name: .unhealthy, tasks[1].name: .up])
        #expect(state.service(named: "web")?.status == "2/2 tasks running; 1 unhealthy")
        // Health is observed, not specified: the version updates are made against does not move.
        #expect(state.service(named: "web")?.version == versionBefore)

        h.clock.advance(1)
        let recovered = try await report(h, tasks[0], .healthy)
        #expect(recovered.unhealthySince == nil)
        _ = try await h.manager.reconcile()
        state = await h.state
        #expect(endpointStates(state, nodeID: observer) == [tasks[0].name: .up, tasks[1].name: .up])
        #expect(state.service(named: "web")?.status == "2/2 tasks running")
    }

    /// Replaced after `retries × interval` unhealthy (3 × 2 s here), in the same slot.
    @Test func aTaskThatStaysUnhealthyIsReplaced() async throws {
        let (h, nodes, tasks) = try await twoCheckedTasks()
        try #require(tasks.count == 2)
        _ = try await report(h, tasks[0], .unhealthy, "health check failed: status 500")
        h.clock.advance(5.5)
        _ = try await h.manager.reconcile()
        #expect(await h.state.tasks[tasks[0].id]?.desiredState == .running)

        h.clock.advance(1)
        _ = try await h.manager.reconcile()
        var state = await h.state
        let replaced = try #require(state.tasks[tasks[0].id])
        #expect(replaced.desiredState == .shutdown)
        #expect(replaced.status == "unhealthy for more than 6 s: replaced")
        let successor = try #require(
            state.tasks(of: "web").first { $0.slot == tasks[0].slot && $0.desiredState == .running })
        #expect(successor.id != tasks[0].id && successor.health == nil)

        try await h.settle(alive: nodes)
        state = await h.state
        // Stopped by its agent, it keeps the reason it was replaced for.
        #expect(state.tasks[tasks[0].id]?.state == .shutdown)
        #expect(state.tasks[tasks[0].id]?.status == "unhealthy for more than 6 s: replaced")
        #expect(state.running("web").count == 2)
        #expect(state.running("web").allSatisfy { $0.id != tasks[0].id })
        // The healthy-looking other task was left alone.
        #expect(state.tasks[tasks[1].id]?.desiredState == .running)
    }

    /// Start-first updates wait for the new task to be healthy before the old one drains.
    @Test func aStartFirstUpdateWaitsForHealth() async throws {
        let (h, nodes, tasks) = try await twoCheckedTasks()
        for task in tasks { _ = try await report(h, task, .healthy) }
        try await h.update("web") {
            $0.command = ["y"]
            $0.updatePolicy = UpdatePolicy(parallelism: 2, order: .startFirst)
        }
        try await h.settle(alive: nodes)
        var state = await h.state
        let fresh = state.tasks(of: "web").filter { $0.generation == 2 }
        #expect(fresh.count == 2 && fresh.allSatisfy { $0.state == .running && $0.health == .starting })
        #expect(tasks.allSatisfy { state.tasks[$0.id]?.desiredState == .running })

        for task in fresh { _ = try await report(h, task, .healthy) }
        try await h.settle(alive: nodes)
        state = await h.state
        #expect(tasks.allSatisfy { state.tasks[$0.id]?.desiredState != .running })
        #expect(state.service(named: "web")?.update?.state == .completed)
    }

    /// Each invalid check: refused with the field named, nothing stored.
    @Test(arguments: [
        (HealthCheck(), "healthCheck", "give a command, a tcpPort or an http probe"),
        (
            HealthCheck(command: ["true"], tcpPort: 80), "healthCheck",
            "give only one of command, tcpPort and http"
        ),
        (HealthCheck(tcpPort: 0), "healthCheck.tcpPort", "must be 1-65535"),
        (HealthCheck(http: HTTPHealthProbe(port: 0)), "healthCheck.http.port", "must be 1-65535"),
        (
            HealthCheck(http: HTTPHealthProbe(port: 80, path: "health")), "healthCheck.http.path",
            "must start with '/' and hold at most 1024 printable characters, no spaces"
        ),
        (
            HealthCheck(tcpPort: 80, intervalSeconds: 0), "healthCheck.intervalSeconds",
            "must be more than 0 and at most 86400"
        ),
        (
            HealthCheck(tcpPort: 80, timeoutSeconds: -1), "healthCheck.timeoutSeconds",
            "must be more than 0 and at most 86400"
        ),
        (HealthCheck(tcpPort: 80, retries: -1), "healthCheck.retries", "must be 0 to 1000"),
        (
            HealthCheck(tcpPort: 80, startPeriodSeconds: -2), "healthCheck.startPeriodSeconds",
            "must be 0 to 86400"
        ),
    ])
    func invalidChecksNameTheField(check: HealthCheck, field: String, reason: String) async throws {
        let h = try await Harness.make()
        await #expect(throws: StoreError.invalid(field: field, reason: reason)) {
            try await h.service(ServiceSpec(name: "web", command: ["x"], healthCheck: check))
        }
        #expect(await h.state.services.isEmpty)
    }
}
