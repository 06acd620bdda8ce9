import ShoalModel

public struct OrchestratorConfig: Sendable, Equatable {
    /// Agents heartbeat this often.
    public var heartbeatPeriod: Double
    /// A node is DOWN after this many periods without a heartbeat.
    public var missedHeartbeats: Int
    /// A draining task keeps its connections this long (backend weight 0) before it is told to stop.
    public var drainSeconds: Double
    /// Stopped tasks kept per slot for `tasks` listings.
    public var taskHistory: Int

    public init(
        heartbeatPeriod: Double = 5, missedHeartbeats: Int = 3, drainSeconds: Double = 2, taskHistory: Int = 2
    ) {
        self.heartbeatPeriod = heartbeatPeriod
        self.missedHeartbeats = missedHeartbeats
        self.drainSeconds = drainSeconds
        self.taskHistory = taskHistory
    }
}

/// Drives the state towards the specs: node liveness, task creation and removal, rolling updates,
/// allocation and placement. A pure function of the state, the time and the heartbeats seen.
public enum Orchestrator {
    public static func reconcile(
        _ state: inout ClusterState, now: Double, lastHeartbeat: [String: Double], config: OrchestratorConfig,
        makeID: () -> String
    ) {
        markDownNodes(&state, now: now, lastHeartbeat: lastHeartbeat, config: config)
        moveTasksOffUnfitNodes(&state, now: now)
        for serviceID in state.services.keys.sorted() {
            reconcileService(&state, serviceID: serviceID, now: now, makeID: makeID)
        }
        stopOrphans(&state)
        finishStopping(&state, now: now, config: config)
        Allocator.run(&state)
        schedule(&state)
        reap(&state, config: config)
        for serviceID in state.services.keys { updateServiceStatus(&state, serviceID: serviceID) }
    }

    // MARK: nodes

    static func markDownNodes(
        _ state: inout ClusterState, now: Double, lastHeartbeat: [String: Double], config: OrchestratorConfig
    ) {
        let limit = config.heartbeatPeriod * Double(config.missedHeartbeats)
        for (id, node) in state.nodes where node.state == .ready {
            let seen = lastHeartbeat[id] ?? now
            if now - seen > limit {
                state.nodes[id]?.state = .down
                state.nodes[id]?.status = "down: missed \(config.missedHeartbeats) heartbeats"
            }
        }
    }

    /// Tasks on a DOWN or vanished node are replaced at once; a drained node's tasks drain first.
    static func moveTasksOffUnfitNodes(_ state: inout ClusterState, now: Double) {
        for (id, task) in state.tasks where task.desiredState != .shutdown {
            guard let nodeID = task.nodeID else { continue }
            guard let node = state.nodes[nodeID], node.state == .ready else {
                state.tasks[id]?.desiredState = .shutdown
                state.tasks[id]?.status = "node \(state.nodes[nodeID]?.name ?? nodeID) is down; replaced"
                continue
            }
            if node.availability == .drain && task.desiredState == .running {
                state.tasks[id]?.desiredState = .draining
                state.tasks[id]?.drainingSince = now
                state.tasks[id]?.status = "node \(node.name) is drained; moving away"
            }
        }
    }

    // MARK: services

    static func eligible(_ node: Node) -> Bool { node.state == .ready && node.availability == .active }

    static func reconcileService(
        _ state: inout ClusterState, serviceID: String, now: Double, makeID: () -> String
    ) {
        guard var service = state.services[serviceID] else { return }
        let policy = service.spec.effectiveUpdatePolicy
        // A task that ended while it should run is replaced (restart policy "any", as Swarm's default).
        // A task of the new generation failing during a rolling update pauses the update (Swarm's
        // default failure action): the slots not yet updated keep their old tasks.
        for (id, task) in state.tasks where task.serviceID == serviceID && task.desiredState != .shutdown {
            if task.state.isTerminal {
                state.tasks[id]?.desiredState = .shutdown
                if task.state == .failed || task.state == .rejected, task.generation == service.generation,
                    var update = service.update, update.state == .updating
                {
                    update.state = .paused
                    update.message = "update paused: task \(task.name) \(task.state.rawValue): \(task.status)"
                    service.update = update
                    state.services[serviceID] = service
                }
            }
        }
        var tasks = state.tasks.values.filter { $0.serviceID == serviceID }
        var wanted: [String: (slot: Int, nodeID: String?)] = [:]
        switch service.spec.effectiveMode {
        case .replicated:
            for slot in stride(from: 1, through: service.spec.effectiveReplicas, by: 1) {
                wanted["slot:\(slot)"] = (slot, nil)
            }
        case .global:
            for node in state.nodes.values
            where eligible(node) && service.spec.placement?.allows(node) ?? true {
                wanted["node:\(node.id)"] = (0, node.id)
            }
            // A paused node keeps the task it has.
            for task in tasks where task.desiredState == .running {
                if let nodeID = task.nodeID, let node = state.nodes[nodeID], node.state == .ready,
                    node.availability == .pause
                {
                    wanted["node:\(nodeID)"] = (0, nodeID)
                }
            }
        }
        // Scale down: tasks in slots no longer wanted drain, then stop.
        for task in tasks where task.desiredState == .running && wanted[task.slotKey] == nil {
            drain(&state, taskID: task.id, now: now, reason: "service \(service.spec.name) scaled down")
        }
        tasks = state.tasks.values.filter { $0.serviceID == serviceID }
        let byKey = Dictionary(grouping: tasks, by: \.slotKey)

        var inProgress = 0
        var outdated: [String] = []
        for key in wanted.keys.sorted() {
            guard let place = wanted[key] else { continue }
            let slotTasks = byKey[key] ?? []
            let running = slotTasks.filter { $0.desiredState == .running }
            if running.isEmpty {
                // Stop-first: the old task of this slot must stop before its replacement starts.
                let stopping = slotTasks.filter { task in
                    !task.state.isTerminal && task.generation < service.generation
                        && task.nodeID.flatMap { state.nodes[$0] }.map(eligible) == true
                }
                if policy.order == .stopFirst && !stopping.isEmpty {
                    inProgress += 1
                    continue
                }
                let task = makeTask(
                    state, service: service, slot: place.slot, nodeID: place.nodeID, id: makeID())
                state.tasks[task.id] = task
                inProgress += 1
                continue
            }
            if running.count > 1 {
                // Start-first: once the newest task runs, the older ones drain.
                let sorted = running.sorted { ($0.generation, $0.id) > ($1.generation, $1.id) }
                if sorted[0].state == .running {
                    for old in sorted.dropFirst() {
                        drain(&state, taskID: old.id, now: now, reason: "replaced by \(sorted[0].name)")
                    }
                } else {
                    inProgress += 1
                }
                continue
            }
            if running[0].state != .running { inProgress += 1 }
            if running[0].generation < service.generation { outdated.append(key) }
        }

        // Rolling update: batches of `parallelism`, `delay` apart.
        if var update = service.update, update.state == .updating {
            if inProgress == 0 && update.batchInFlight {
                update.batchInFlight = false
                update.lastBatchDoneAt = now
            }
            if outdated.isEmpty && inProgress == 0 {
                update.state = .completed
                update.message = "update completed"
            } else if !outdated.isEmpty && inProgress == 0 && !update.batchInFlight
                && (update.lastBatchDoneAt.map { now >= $0 + policy.delaySeconds } ?? true)
            {
                let size = policy.parallelism > 0 ? policy.parallelism : outdated.count
                for key in outdated.prefix(size) {
                    guard let place = wanted[key],
                        let old = byKey[key]?.first(where: { $0.desiredState == .running })
                    else { continue }
                    switch policy.order {
                    case .stopFirst:
                        drain(
                            &state, taskID: old.id, now: now,
                            reason: "updating to generation \(service.generation)")
                    case .startFirst:
                        let task = makeTask(
                            state, service: service, slot: place.slot, nodeID: place.nodeID, id: makeID())
                        state.tasks[task.id] = task
                    }
                }
                update.batchInFlight = true
                update.message =
                    "updating: \(outdated.count - min(size, outdated.count)) tasks left after this batch"
            }
            service.update = update
            state.services[serviceID] = service
        }
    }

    static func drain(_ state: inout ClusterState, taskID: String, now: Double, reason: String) {
        guard let task = state.tasks[taskID], task.desiredState == .running else { return }
        state.tasks[taskID]?.desiredState = .draining
        state.tasks[taskID]?.drainingSince = now
        state.tasks[taskID]?.status = "draining: \(reason)"
    }

    static func makeTask(_ state: ClusterState, service: Service, slot: Int, nodeID: String?, id: String)
        -> ClusterTask
    {
        let spec = service.spec
        let endpoints = service.networkIDs.compactMap { networkID -> TaskEndpoint? in
            guard let network = state.networks[networkID] else { return nil }
            let aliases =
                spec.networks?.first { $0.target == network.id || $0.target == network.name }?.aliases ?? []
            return TaskEndpoint(networkID: network.id, networkName: network.name, aliases: aliases)
        }
        let name = slot > 0 ? "\(spec.name).\(slot).\(id)" : "\(spec.name).\(nodeID ?? "").\(id)"
        return ClusterTask(
            id: id, status: "created", name: name, serviceID: service.id, serviceName: spec.name, slot: slot,
            nodeID: nodeID, generation: service.generation,
            spec: TaskSpec(
                command: spec.command, env: spec.env ?? [], healthCheck: spec.healthCheck,
                hostPorts: (spec.ports ?? []).filter { $0.publishMode == .host }),
            endpoints: endpoints)
    }

    // MARK: stopping

    static func stopOrphans(_ state: inout ClusterState) {
        for (id, task) in state.tasks
        where state.services[task.serviceID] == nil && task.desiredState != .shutdown {
            state.tasks[id]?.desiredState = .shutdown
            state.tasks[id]?.status = "service \(task.serviceName) was removed"
        }
    }

    /// Draining tasks are told to stop after the drain period; tasks that never reached an agent
    /// (unplaced, or their node was removed) are stopped by the manager itself.
    static func finishStopping(_ state: inout ClusterState, now: Double, config: OrchestratorConfig) {
        for (id, task) in state.tasks where !task.state.isTerminal {
            let unplaced = task.nodeID == nil || task.nodeID.flatMap { state.nodes[$0] } == nil
            if task.desiredState == .draining {
                if unplaced || task.state.rank < TaskState.starting.rank {
                    state.tasks[id]?.desiredState = .shutdown
                } else if now >= (task.drainingSince ?? now) + config.drainSeconds {
                    state.tasks[id]?.desiredState = .shutdown
                }
            }
            if state.tasks[id]?.desiredState == .shutdown
                && (unplaced || task.state.rank < TaskState.assigned.rank)
            {
                state.tasks[id]?.state = .shutdown
            }
        }
    }

    // MARK: placement

    /// Places allocated tasks on ready, active nodes, fewest tasks of the same service first.
    static func schedule(_ state: inout ClusterState) {
        var perService: [String: [String: Int]] = [:]
        var perNode: [String: Int] = [:]
        var hostPorts: [String: Set<String>] = [:]
        for task in state.tasks.values where !task.state.isTerminal {
            guard let nodeID = task.nodeID else { continue }
            perService[task.serviceID, default: [:]][nodeID, default: 0] += 1
            perNode[nodeID, default: 0] += 1
            for port in task.spec.hostPorts {
                hostPorts[nodeID, default: []].insert(
                    "\(port.protocol.rawValue)/\(port.published ?? port.target)")
            }
        }
        let nodes = state.nodes.values.filter(eligible).sorted {
            $0.name < $1.name || ($0.name == $1.name && $0.id < $1.id)
        }
        for id in state.tasks.keys.sorted() {
            guard var task = state.tasks[id], task.state == .pending, task.desiredState == .running else {
                continue
            }
            if let nodeID = task.nodeID {
                // Global tasks come with their node.
                task.state = .assigned
                task.status = "assigned to node \(state.nodes[nodeID]?.name ?? nodeID)"
                state.tasks[id] = task
                continue
            }
            let wantedPorts = Set(
                task.spec.hostPorts.map { "\($0.protocol.rawValue)/\($0.published ?? $0.target)" })
            // A node needs its load-balancer address on every network of the task.
            let candidates = nodes.filter { node in
                hostPorts[node.id, default: []].isDisjoint(with: wantedPorts)
                    && state.services[task.serviceID]?.spec.placement?.allows(node) ?? true
                    && task.endpoints.allSatisfy { node.loadBalancerIPs[$0.networkID] != nil }
            }
            guard
                let chosen = candidates.min(by: { a, b in
                    let sa = perService[task.serviceID]?[a.id] ?? 0
                    let sb = perService[task.serviceID]?[b.id] ?? 0
                    if sa != sb { return sa < sb }
                    return perNode[a.id, default: 0] < perNode[b.id, default: 0]
                })
            else {
                let placement = state.services[task.serviceID]?.spec.placement
                let message =
                    nodes.isEmpty
                    ? "no suitable node: none of \(state.nodes.count) nodes is ready and active"
                    : !nodes.contains(where: { placement?.allows($0) ?? true })
                        ? "no suitable node: no ready, active node satisfies the placement constraints "
                            + (placement?.constraints ?? []).joined(separator: ", ")
                        : "no suitable node: host ports \(wantedPorts.sorted().joined(separator: ",")) are taken"
                            + " or no load-balancer address is free on every node"
                if task.status != message {
                    task.status = message
                    state.tasks[id] = task
                }
                continue
            }
            task.nodeID = chosen.id
            task.state = .assigned
            task.status = "assigned to node \(chosen.name)"
            state.tasks[id] = task
            perService[task.serviceID, default: [:]][chosen.id, default: 0] += 1
            perNode[chosen.id, default: 0] += 1
            for port in wantedPorts { hostPorts[chosen.id, default: []].insert(port) }
        }
    }

    // MARK: history and status

    /// Stopped tasks are deleted when their service is gone, and beyond `taskHistory` per slot.
    static func reap(_ state: inout ClusterState, config: OrchestratorConfig) {
        let finished = state.tasks.values.filter { $0.state.isTerminal && $0.desiredState == .shutdown }
        for group in Dictionary(grouping: finished, by: { "\($0.serviceID)/\($0.slotKey)" }).values {
            // No history for a removed service, nor for a global task whose node was removed.
            let nodeGone = group[0].slot == 0 && group[0].nodeID.flatMap { state.nodes[$0] } == nil
            let keep = state.services[group[0].serviceID] == nil || nodeGone ? 0 : config.taskHistory
            let sorted = group.sorted { ($0.version, $0.id) > ($1.version, $1.id) }
            for task in sorted.dropFirst(keep) { state.tasks[task.id] = nil }
        }
    }

    static func updateServiceStatus(_ state: inout ClusterState, serviceID: String) {
        guard let service = state.services[serviceID] else { return }
        let live = state.tasks.values.filter { $0.serviceID == serviceID && $0.desiredState == .running }
        let running = live.filter { $0.state == .running }.count
        let wanted =
            service.spec.effectiveMode == .replicated
            ? service.spec.effectiveReplicas : state.nodes.values.filter(eligible).count
        var message = "\(running)/\(wanted) tasks running"
        let missingVIP =
            service.spec.effectiveEndpointMode == .vip
            && service.networkIDs.contains { id in !service.virtualIPs.contains { $0.networkID == id } }
        if let blocked = live.sorted(by: { $0.id < $1.id }).first(where: { task in
            task.endpoints.contains { $0.address == nil } || task.state == .pending || task.state == .new
        }) {
            message += "; \(blocked.status)"
        } else if missingVIP,
            let network = service.networkIDs.compactMap({ state.networks[$0] }).first(where: { net in
                !service.virtualIPs.contains { $0.networkID == net.id }
            })
        {
            let pool = network.ipRange ?? network.subnet
            let held = Allocator.usedAddresses(state, network: network).count
            message += "; network \(network.name) has no free address: \(pool) holds \(held)"
        }
        if let update = service.update, update.state != .completed { message += "; \(update.message)" }
        if service.status != message { state.services[serviceID]?.status = message }
    }
}
