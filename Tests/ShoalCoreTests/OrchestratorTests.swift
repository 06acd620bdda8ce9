import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct OrchestratorTests {
    func threeNodes(_ h: Harness) async throws -> [String] {
        var ids: [String] = []
        for index in 1...3 {
            ids.append(try await h.addNode("node\(index)", address: "192.168.0.\(index)").id)
        }
        return ids
    }

    @Test func replicasSpreadOverReadyActiveNodesAndScale() async throws {
        let h = try await Harness.make()
        let nodes = try await threeNodes(h)
        try await h.service(ServiceSpec(name: "web", replicas: 6, command: ["x"]))
        try await h.settle(alive: nodes)
        var state = await h.state
        let running = state.running("web")
        #expect(running.count == 6)
        #expect(Set(running.map(\.slot)) == Set(1...6))
        #expect(
            Dictionary(grouping: running, by: { $0.nodeID ?? "" }).values.map(\.count).sorted() == [2, 2, 2])
        #expect(running.allSatisfy { $0.name.hasPrefix("web.\($0.slot).") })
        #expect(state.service(named: "web")?.status == "6/6 tasks running")

        try await h.update("web") { $0.replicas = 2 }
        try await h.settle(alive: nodes, step: 1)
        state = await h.state
        #expect(state.running("web").map(\.slot).sorted() == [1, 2])
        // No rolling update for a scale.
        #expect(state.service(named: "web")?.generation == 1)
    }

    @Test func globalServiceRunsOncePerEligibleNode() async throws {
        let h = try await Harness.make()
        var nodes = try await threeNodes(h)
        try await h.service(ServiceSpec(name: "agent", mode: .global, command: ["x"]))
        try await h.settle(alive: nodes)
        var state = await h.state
        #expect(Set(state.running("agent").compactMap(\.nodeID)) == Set(nodes))
        #expect(
            state.running("agent").allSatisfy {
                $0.slot == 0 && $0.name.hasPrefix("agent.\($0.nodeID ?? "-").")
            })

        nodes.append(try await h.addNode("node4", address: "192.168.0.4").id)
        try await h.settle(alive: nodes)
        state = await h.state
        #expect(state.running("agent").count == 4)
        await #expect(throws: StoreError.self) {
            try await h.service(ServiceSpec(name: "bad", mode: .global, replicas: 2, command: ["x"]))
        }
    }

    @Test func aDownNodesTasksAreReplacedAndItsEndpointsLeaveEveryView() async throws {
        let h = try await Harness.make()
        let nodes = try await threeNodes(h)
        try await h.network(NetworkSpec(name: "net"))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 3, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: nodes)
        var state = await h.state
        let victim = nodes[2]
        let lost = state.running("web").filter { $0.nodeID == victim }
        #expect(lost.count == 1)
        #expect(NodeView.compute(state, nodeID: nodes[0]).keys.contains { $0.hasSuffix("/\(lost[0].id)") })

        // 5 s period, 3 missed: still ready after 15 s, down after more.
        let alive = Array(nodes.prefix(2))
        for _ in 0..<3 {
            h.clock.advance(5)
            try await h.heartbeat(alive)
            try await h.manager.reconcile()
        }
        #expect(await h.state.nodes[victim]?.state == .ready)
        h.clock.advance(1)
        try await h.heartbeat(alive)
        try await h.manager.reconcile()
        state = await h.state
        #expect(state.nodes[victim]?.state == .down)
        #expect(state.nodes[victim]?.status.contains("missed 3 heartbeats") == true)
        #expect(state.tasks[lost[0].id]?.desiredState == .shutdown)
        #expect(!NodeView.compute(state, nodeID: nodes[0]).keys.contains { $0.hasSuffix("/\(lost[0].id)") })
        #expect(
            !NodeView.compute(state, nodeID: nodes[0]).keys.contains(
                "lb/\(state.network(named: "net")?.id ?? "")/\(victim)"))

        try await h.settle(alive: alive)
        state = await h.state
        #expect(state.running("web").count == 3)
        #expect(state.running("web").allSatisfy { $0.nodeID != victim })
        // The lost task's address stays held until its node reports it stopped.
        #expect(state.tasks[lost[0].id]?.endpoints[0].address != nil)

        // The node comes back, its agent stops the old task, and the address comes back.
        try await h.settle(alive: nodes)
        state = await h.state
        #expect(state.nodes[victim]?.state == .ready)
        #expect(state.tasks[lost[0].id]?.state == .shutdown)
        #expect(state.tasks[lost[0].id]?.endpoints[0].address == nil)
    }

    @Test func drainMovesTasksAwayThroughDrainingAndPauseStopsNewPlacements() async throws {
        let h = try await Harness.make(drainSeconds: 2)
        let nodes = try await threeNodes(h)
        try await h.service(ServiceSpec(name: "web", replicas: 3, command: ["x"]))
        try await h.settle(alive: nodes)
        var state = await h.state
        let node0 = try #require(state.nodes[nodes[0]])
        let moved = try #require(state.running("web").first { $0.nodeID == nodes[0] })
        try await h.manager.apply { state in
            try Operations.updateNode(
                nodes[0], version: node0.version, update: NodeUpdate(availability: .drain), state: &state)
        }
        state = await h.state
        #expect(state.tasks[moved.id]?.desiredState == .draining)
        let endpointsView = NodeView.endpointState(try #require(state.tasks[moved.id]), state: state)
        #expect(endpointsView == .draining)
        try await h.settle(alive: nodes, step: 1)
        state = await h.state
        #expect(state.tasks[moved.id]?.state == .shutdown)
        #expect(state.running("web").count == 3)
        #expect(state.running("web").allSatisfy { $0.nodeID != nodes[0] })

        // Pause: existing tasks stay, new ones go elsewhere.
        let node1 = try #require(state.nodes[nodes[1]])
        let kept = state.running("web").filter { $0.nodeID == nodes[1] }.map(\.id)
        try await h.manager.apply { state in
            try Operations.updateNode(
                nodes[1], version: node1.version, update: NodeUpdate(availability: .pause), state: &state)
        }
        try await h.update("web") { $0.replicas = 5 }
        try await h.settle(alive: nodes, step: 1)
        state = await h.state
        #expect(state.running("web").count == 5)
        #expect(state.running("web").filter { $0.nodeID == nodes[1] }.map(\.id).sorted() == kept.sorted())
        #expect(state.running("web").filter { $0.nodeID == nodes[2] }.count == 5 - kept.count)
    }

    @Test func noReadyNodeIsAReadableStatus() async throws {
        let h = try await Harness.make()
        try await h.service(ServiceSpec(name: "web", replicas: 1, command: ["x"]))
        let state = await h.state
        #expect(
            state.tasks(of: "web").first?.status == "no suitable node: none of 0 nodes is ready and active")
        #expect(
            state.service(named: "web")?.status
                == "0/1 tasks running; no suitable node: none of 0 nodes is ready and active")
    }

    /// Runs a rolling update step by step, recording how many old and new tasks serve at each point.
    func rollingUpdate(order: UpdateOrder, parallelism: Int, delay: Double) async throws -> (
        Harness, [String], [(old: Int, new: Int, draining: Int)]
    ) {
        let h = try await Harness.make(drainSeconds: 1)
        let nodes = try await threeNodes(h)
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 4, command: ["x"],
                updatePolicy: UpdatePolicy(parallelism: parallelism, delaySeconds: delay, order: order)))
        try await h.settle(alive: nodes)
        try await h.update("web") { $0.env = ["VERSION=2"] }
        var trace: [(old: Int, new: Int, draining: Int)] = []
        for _ in 0..<80 {
            let state = await h.state
            let live = state.tasks(of: "web").filter { $0.state == .running }
            trace.append(
                (
                    live.filter { $0.generation == 1 && $0.desiredState == .running }.count,
                    live.filter { $0.generation == 2 && $0.desiredState == .running }.count,
                    live.filter { $0.desiredState == .draining }.count
                ))
            if state.service(named: "web")?.update?.state == .completed { break }
            h.clock.advance(0.5)
            try await h.heartbeat(nodes)
            try await h.agentsAct(on: Set(nodes))
            try await h.manager.reconcile()
        }
        return (h, nodes, trace)
    }

    @Test func stopFirstUpdateReplacesInBatchesDrainingFirst() async throws {
        let (h, _, trace) = try await rollingUpdate(order: .stopFirst, parallelism: 2, delay: 2)
        let state = await h.state
        #expect(state.service(named: "web")?.update?.state == .completed)
        #expect(state.running("web").count == 4)
        #expect(state.running("web").allSatisfy { $0.generation == 2 && $0.spec.env == ["VERSION=2"] })
        // Never more than `parallelism` slots out of service, and the old ones drain before stopping.
        #expect(trace.allSatisfy { $0.old + $0.new + $0.draining >= 2 })
        #expect(trace.allSatisfy { $0.old + $0.new >= 2 })
        #expect(trace.contains { $0.draining == 2 })
        // Two batches: the new count steps 0 -> 2 -> 4 and holds at 2 for the delay.
        let newCounts = trace.map(\.new)
        #expect(newCounts.contains(2) && newCounts.last == 4)
        #expect(newCounts.filter { $0 == 2 }.count >= 4)
    }

    @Test func startFirstUpdateStartsTheNewTaskBeforeTheOldOneDrains() async throws {
        let (h, _, trace) = try await rollingUpdate(order: .startFirst, parallelism: 1, delay: 0)
        let state = await h.state
        #expect(state.service(named: "web")?.update?.state == .completed)
        #expect(state.running("web").count == 4)
        // Capacity never drops below the replica count.
        #expect(trace.allSatisfy { $0.old + $0.new >= 4 })
        #expect(trace.contains { $0.old + $0.new == 5 || $0.draining == 1 })
    }

    @Test func aFailingNewTaskPausesTheUpdateAndOldTasksKeepServing() async throws {
        let h = try await Harness.make(drainSeconds: 0)
        let nodes = try await threeNodes(h)
        try await h.service(
            ServiceSpec(name: "web", replicas: 3, command: ["x"], updatePolicy: UpdatePolicy(parallelism: 1)))
        try await h.settle(alive: nodes)
        try await h.update("web") { $0.command = ["broken"] }
        for _ in 0..<10 {
            h.clock.advance(0.5)
            try await h.heartbeat(nodes)
            try await h.agentsAct(on: Set(nodes), failing: { $0.spec.command == ["broken"] })
            try await h.manager.reconcile()
        }
        let state = await h.state
        let update = try #require(state.service(named: "web")?.update)
        #expect(update.state == .paused)
        #expect(update.message.hasPrefix("update paused: task web.1."))
        #expect(update.message.contains("failed"))
        // Only the first slot was touched; the other two still run the old generation.
        #expect(state.running("web").filter { $0.generation == 1 }.map(\.slot).sorted() == [2, 3])
        #expect(state.service(named: "web")?.status.contains("update paused: task web.1.") == true)

        // A new update (the fix) resumes rolling.
        try await h.update("web") { $0.command = ["fixed"] }
        try await h.settle(alive: nodes, rounds: 30, step: 1)
        let fixed = await h.state
        #expect(fixed.service(named: "web")?.update?.state == .completed)
        #expect(fixed.running("web").count == 3)
        #expect(fixed.running("web").allSatisfy { $0.spec.command == ["fixed"] })
    }

    /// The status line ("2/3 tasks running") and rollout progress are the manager's observations:
    /// they must not move the version an update is made against, or `update?version=` keeps
    /// failing with 409 while tasks come and go.
    @Test func statusAndProgressDoNotMoveTheServiceVersion() async throws {
        let h = try await Harness.make(drainSeconds: 0)
        let nodes = try await threeNodes(h)
        let config = h.manager.config.allocator
        // Created without a reconcile pass, so this is the version the user was answered with.
        try await h.manager.store.write { state in
            _ = try Operations.createService(
                ServiceSpec(name: "web", replicas: 3, command: ["x"]), id: "svc", state: &state,
                config: config)
        }
        let created = try #require(await h.state.services["svc"]?.version)
        try await h.settle(alive: nodes)
        var service = try #require(await h.state.services["svc"])
        #expect(service.status == "3/3 tasks running")
        #expect(service.version == created)

        // A rolling update: tasks are replaced one by one while the user sends another update.
        var spec = service.spec
        spec.command = ["y"]
        spec.updatePolicy = UpdatePolicy(parallelism: 1)
        let update = spec
        try await h.manager.apply { state in
            _ = try Operations.updateService(
                "web", version: created, spec: update, state: &state, config: config)
        }
        let updated = try #require(await h.state.services["svc"]?.version)
        for _ in 0..<3 {
            h.clock.advance(0.5)
            try await h.heartbeat(nodes)
            try await h.agentsAct(on: Set(nodes))
            try await h.manager.reconcile()
        }
        service = try #require(await h.state.services["svc"])
        #expect(await h.state.running("web").contains { $0.generation == service.generation })
        #expect(service.version == updated)
        spec.replicas = 4
        let scale = spec
        try await h.manager.apply { state in
            _ = try Operations.updateService(
                "web", version: updated, spec: scale, state: &state, config: config)
        }
        #expect(await h.state.services["svc"]?.spec.replicas == 4)
    }
}
