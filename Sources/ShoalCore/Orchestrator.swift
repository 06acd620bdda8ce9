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

/// Which part of the state a reconcile pass looks at.
public enum PassScope: Sendable {
    /// Every service, node and task (the loop's timer pass, and `Manager.reconcile()`).
    case full
    /// What changed since the last pass: the services of changed tasks, changed services, and every
    /// node when a node or network changed; timers (heartbeats, drains, health) are checked too.
    case changes
}

/// Drives the state towards the specs: node liveness, task creation and removal, rolling updates,
/// allocation and placement. A pure function of the state, the time and the heartbeats seen.
/// It finds tasks through the kept indexes (`ClusterIndex`), so a pass scoped to the changes costs
/// in proportion to them, not to the cluster.
public enum Orchestrator {
    public static func reconcile(
        _ state: inout ClusterState, now: Double, lastHeartbeat: [String: Double], config: OrchestratorConfig,
        makeID: () -> String, scope: PassScope = .full
    ) {
        markDownNodes(&state, now: now, lastHeartbeat: lastHeartbeat, config: config)
        state.syncIndex()
        // Tasks leave a node when it stops being fit, which is a change of the node (or its removal);
        // a full pass looks at every node anyway.
        if scope == .full || !state.unreconciled.nodes.isEmpty || !state.nodes.touchedIDs.isEmpty {
            moveTasksOffUnfitNodes(&state, now: now)
        }
        HealthRules.replaceUnhealthy(&state, now: now)
        state.syncIndex()
        let changed = state.changedSinceLastPass
        // A node or network that changed can change every node's load balancers and every global
        // service (its eligible nodes).
        let everyNode = scope == .full || !changed.nodes.isEmpty || !changed.networks.isEmpty
        let services =
            scope == .full ? state.services.keys.sorted() : affectedServices(state, changed, everyNode)
        for serviceID in services {
            var taskIDs = Array(state.index.tasksByService[serviceID] ?? [])
            reconcileService(&state, serviceID: serviceID, taskIDs: &taskIDs, now: now, makeID: makeID)
        }
        state.syncIndex()
        stopOrphans(&state, services: scope == .full ? nil : changed.services)
        finishStopping(&state, now: now, config: config)
        // The tasks this pass changed so far count too (a task stopped here frees its node's load balancer).
        let nodes = everyNode ? nil : affectedNodes(state, state.changedSinceLastPass)
        var used = Allocator.run(&state, now: now, services: services, nodes: nodes)
        schedule(&state, used: &used)
        state.syncIndex()
        let changedNow = state.changedSinceLastPass
        reap(&state, config: config, changed: scope == .full ? nil : changedNow)
        state.syncIndex()
        let statuses =
            scope == .full ? state.services.keys.sorted() : affectedServices(state, changedNow, everyNode)
        let eligibleNodes = state.index.eligibleNodes.count
        for serviceID in statuses {
            updateServiceStatus(
                &state, serviceID: serviceID, taskIDs: Array(state.index.tasksByService[serviceID] ?? []),
                eligibleNodes: eligibleNodes)
        }
        state.unreconciled = Unreconciled(coveredByPass: true)
    }

    /// Changed services, services of changed tasks, services in a rolling update (its delay is a
    /// timer) or waiting for a VIP, and every global service when nodes changed.
    static func affectedServices(_ state: ClusterState, _ changed: Unreconciled, _ everyNode: Bool)
        -> [String]
    {
        var services = changed.services.union(state.index.updatingServices)
        services.formUnion(state.index.servicesMissingVIP)
        for id in changed.tasks {
            if let serviceID = state.index.tasks[id]?.serviceID ?? state.tasks.original(id)?.serviceID {
                services.insert(serviceID)
            }
        }
        if everyNode { services.formUnion(state.index.globalServices) }
        return services.sorted()
    }

    /// Nodes whose load balancers the changed tasks can change, and the first eligible node (it
    /// holds one for tasks waiting for a node).
    static func affectedNodes(_ state: ClusterState, _ changed: Unreconciled) -> [String] {
        var nodes = Set(state.index.eligibleNodes.prefix(1))
        for id in changed.tasks {
            if let nodeID = state.index.tasks[id]?.nodeID ?? state.tasks.original(id)?.nodeID {
                nodes.insert(nodeID)
            }
        }
        return nodes.sorted()
    }

    // MARK: nodes

    static func markDownNodes(
        _ state: inout ClusterState, now: Double, lastHeartbeat: [String: Double], config: OrchestratorConfig
    ) {
        guard !lastHeartbeat.isEmpty else { return }
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
        for (nodeID, taskIDs) in state.index.tasksByNode where state.index.nodes[nodeID]?.eligible != true {
            let node = state.nodes[nodeID]
            if let node, node.state == .ready && node.availability != .drain { continue }
            for id in taskIDs {
                guard let task = state.tasks[id], task.desiredState != .shutdown else { continue }
                guard let node, node.state == .ready else {
                    state.tasks[id]?.desiredState = .shutdown
                    state.tasks[id]?.status = "node \(state.nodes[nodeID]?.name ?? nodeID) is down; replaced"
                    continue
                }
                if task.desiredState == .running {
                    state.tasks[id]?.desiredState = .draining
                    state.tasks[id]?.drainingSince = now
                    state.tasks[id]?.status = "node \(node.name) is drained; moving away"
                }
            }
        }
    }

    // MARK: services

    static func eligible(_ node: Node) -> Bool { node.state == .ready && node.availability == .active }

    static func reconcileService(
        _ state: inout ClusterState, serviceID: String, taskIDs: inout [String], now: Double,
        makeID: () -> String
    ) {
        guard var service = state.services[serviceID] else { return }
        let policy = service.spec.effectiveUpdatePolicy
        // A task that ended while it should run is replaced (restart policy "any", as Swarm's default).
        // A task of the new generation failing during a rolling update pauses the update (Swarm's
        // default failure action): the slots not yet updated keep their old tasks.
        for id in taskIDs {
            guard let task = state.tasks[id], task.desiredState != .shutdown else { continue }
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
        var tasks = taskIDs.compactMap { state.tasks[$0] }
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
        tasks = taskIDs.compactMap { state.tasks[$0] }
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
                taskIDs.append(task.id)
                inProgress += 1
                continue
            }
            if running.count > 1 {
                // Start-first: once the newest task runs (and is healthy), the older ones drain.
                let sorted = running.sorted { ($0.generation, $0.id) > ($1.generation, $1.id) }
                if sorted[0].isServing {
                    for old in sorted.dropFirst() {
                        drain(&state, taskID: old.id, now: now, reason: "replaced by \(sorted[0].name)")
                    }
                } else {
                    inProgress += 1
                }
                continue
            }
            // A batch is done when its tasks serve: running, and healthy when the service has a check.
            if !running[0].isServing { inProgress += 1 }
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
                        taskIDs.append(task.id)
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

    /// Tasks of removed services stop; `services` limits the look to those (nil: every service).
    static func stopOrphans(_ state: inout ClusterState, services: Set<String>?) {
        let index = state.index
        let candidates = services ?? Set(index.tasksByService.keys)
        for serviceID in candidates where state.services[serviceID] == nil {
            for id in index.tasksByService[serviceID] ?? [] {
                guard let task = state.tasks[id], task.desiredState != .shutdown else { continue }
                state.tasks[id]?.desiredState = .shutdown
                state.tasks[id]?.status = "service \(task.serviceName) was removed"
            }
        }
    }

    /// Draining tasks are told to stop after the drain period; tasks that never reached an agent
    /// (unplaced, or their node was removed) are stopped by the manager itself.
    static func finishStopping(_ state: inout ClusterState, now: Double, config: OrchestratorConfig) {
        for id in state.index.stopping {
            guard let task = state.tasks[id], !task.state.isTerminal else { continue }
            let unplaced = task.nodeID == nil || task.nodeID.flatMap { state.nodes[$0] } == nil
            if task.desiredState == .draining {
                if unplaced || task.state.rank < TaskState.starting.rank {
                    state.tasks[id]?.desiredState = .shutdown
                } else if now >= (task.drainingSince ?? now) + config.drainSeconds {
                    state.tasks[id]?.desiredState = .shutdown
                }
            }
            // A removed service's task on a DOWN node would wait forever for a report: it ends here
            // (and `reap` deletes it); if the node comes back, its agent stops what left its view.
            let orphanOnDownNode =
                state.services[task.serviceID] == nil
                && task.nodeID.flatMap { state.nodes[$0] }?.state == .down
            if state.tasks[id]?.desiredState == .shutdown
                && (unplaced || orphanOnDownNode || task.state.rank < TaskState.assigned.rank)
            {
                state.tasks[id]?.state = .shutdown
            }
        }
    }

    // MARK: placement

    /// Places allocated tasks on ready, active nodes, fewest tasks of the same service first. The
    /// chosen node gets its load-balancer address on the task's networks now, so only nodes that
    /// take a task use one (reserving one on every eligible node filled small subnets with them).
    static func schedule(_ state: inout ClusterState, used: inout PassAddresses) {
        state.syncIndex()
        let index = state.index
        guard !index.waiting.isEmpty else { return }
        // Tasks placed in this pass per node, on top of the index's live counts (a copy of those
        // counts, or of every eligible node, per pass cost more than placing: issue 12).
        var placedNow: [String: Int] = [:]
        // Host ports taken in this pass, on top of the index's.
        var hostPorts: [String: Set<String>] = [:]
        let nodeIDs = index.eligibleNodes
        // Nodes that could not get a load-balancer address on a network in this pass.
        var noAddress: Set<String> = []
        // Tasks of one service want the same networks and ports: place them together, each on the
        // least loaded node, from a heap (a scan of every node per task was 10^8 steps at 100,000 tasks).
        var byService: [String: [String]] = [:]
        for id in index.waiting.sorted() {
            guard var task = state.tasks[id] else { continue }
            if let nodeID = task.nodeID {
                // Global tasks come with their node.
                task.state = .assigned
                task.status = "assigned to node \(state.nodes[nodeID]?.name ?? nodeID)"
                state.tasks[id] = task
                continue
            }
            byService[task.serviceID, default: []].append(id)
        }
        for serviceID in byService.keys.sorted() {
            guard let ids = byService[serviceID], let sample = ids.first.flatMap({ state.tasks[$0] }) else {
                continue
            }
            let wantedPorts = Set(
                sample.spec.hostPorts.map { "\($0.protocol.rawValue)/\($0.published ?? $0.target)" })
            let counts = index.liveByServiceNode[serviceID] ?? [:]
            let placement = state.services[serviceID]?.spec.placement
            func allowed(_ nodeID: String) -> Bool {
                guard let placement else { return true }
                return state.nodes[nodeID].map(placement.allows) ?? false
            }
            var heap = PlacementHeap()
            for (position, nodeID) in nodeIDs.enumerated()
            where
                (wantedPorts.isEmpty
                || (hostPorts[nodeID, default: []].isDisjoint(with: wantedPorts)
                    && index.hostPortsByNode[nodeID].map { held in
                        !wantedPorts.contains { held[$0] != nil }
                    } ?? true))
                && allowed(nodeID)
                && (noAddress.isEmpty
                    || !sample.endpoints.contains(where: { noAddress.contains("\(nodeID)/\($0.networkID)") }))
            {
                heap.push(
                    PlacementHeap.Entry(
                        sameService: counts[nodeID] ?? 0,
                        total: (index.liveByNode[nodeID] ?? 0) + (placedNow[nodeID] ?? 0), index: position))
            }
            for id in ids {
                guard var task = state.tasks[id] else { continue }
                var chosen: PlacementHeap.Entry?
                while chosen == nil, let best = heap.pop() {
                    if giveLoadBalancers(
                        &state, nodeID: nodeIDs[best.index], task: task, used: &used, failed: &noAddress)
                    {
                        chosen = best
                    }
                }
                guard var entry = chosen else {
                    let message =
                        nodeIDs.isEmpty
                        ? "no suitable node: none of \(state.nodes.count) nodes is ready and active"
                        : !nodeIDs.contains(where: allowed)
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
                let nodeID = nodeIDs[entry.index]
                task.nodeID = nodeID
                task.state = .assigned
                task.status = "assigned to node \(state.nodes[nodeID]?.name ?? nodeID)"
                state.tasks[id] = task
                placedNow[nodeID, default: 0] += 1
                for port in wantedPorts { hostPorts[nodeID, default: []].insert(port) }
                // A node that now publishes the service's host ports cannot take another of its tasks.
                if wantedPorts.isEmpty {
                    entry.sameService += 1
                    entry.total += 1
                    heap.push(entry)
                }
            }
        }
    }

    /// Gives the node a load-balancer address on every network of the task it lacks one on; false
    /// (remembering the node and network in `failed`) when a network has no free address.
    static func giveLoadBalancers(
        _ state: inout ClusterState, nodeID: String, task: ClusterTask,
        used: inout PassAddresses,
        failed: inout Set<String>
    ) -> Bool {
        guard var node = state.nodes[nodeID] else { return false }
        var complete = true
        var given = false
        for endpoint in task.endpoints where node.loadBalancerIPs[endpoint.networkID] == nil {
            guard let network = state.networks[endpoint.networkID] else { continue }
            switch Allocator.nextAddress(&state, network: network, used: &used) {
            case .success(let address):
                node.loadBalancerIPs[network.id] = address
                given = true
            case .failure:
                failed.insert("\(nodeID)/\(network.id)")
                complete = false
            }
        }
        if given { state.nodes[nodeID] = node }
        return complete
    }

    // MARK: history and status

    /// Stopped tasks are deleted when their service is gone, and beyond `taskHistory` per slot.
    /// `changed` limits the look to the slots of changed tasks and the tasks of removed services
    /// and nodes (nil: every stopped task).
    static func reap(_ state: inout ClusterState, config: OrchestratorConfig, changed: Unreconciled?) {
        let index = state.index
        var finished: [ClusterTask]
        if let changed {
            var candidates = changed.tasks.filter { index.finished.contains($0) }
            for serviceID in changed.services where state.services[serviceID] == nil {
                candidates.formUnion(index.tasksByService[serviceID] ?? [])
            }
            for nodeID in changed.nodes where state.nodes[nodeID] == nil {
                candidates.formUnion(index.tasksByNode[nodeID] ?? [])
            }
            // Whole slots: every stopped task of the services and slots the candidates are in.
            let slots = Set(candidates.compactMap { state.tasks[$0] }.map { "\($0.serviceID)/\($0.slotKey)" })
            let services = Set(candidates.compactMap { index.tasks[$0]?.serviceID })
            finished = services.flatMap { index.tasksByService[$0] ?? [] }
                .filter { index.finished.contains($0) }.compactMap { state.tasks[$0] }
                .filter { slots.contains("\($0.serviceID)/\($0.slotKey)") }
        } else {
            finished = index.finished.compactMap { state.tasks[$0] }
        }
        for group in Dictionary(grouping: finished, by: { "\($0.serviceID)/\($0.slotKey)" }).values {
            // No history for a removed service, nor for a global task whose node was removed.
            let nodeGone = group[0].slot == 0 && group[0].nodeID.flatMap { state.nodes[$0] } == nil
            let keep = state.services[group[0].serviceID] == nil || nodeGone ? 0 : config.taskHistory
            let sorted = group.sorted { ($0.version, $0.id) > ($1.version, $1.id) }
            for task in sorted.dropFirst(keep) { state.tasks[task.id] = nil }
        }
    }

    static func updateServiceStatus(
        _ state: inout ClusterState, serviceID: String, taskIDs: [String], eligibleNodes: Int
    ) {
        guard let service = state.services[serviceID] else { return }
        let live = taskIDs.compactMap { state.tasks[$0] }.filter { $0.desiredState == .running }
        let running = live.filter { $0.state == .running }.count
        let wanted =
            service.spec.effectiveMode == .replicated ? service.spec.effectiveReplicas : eligibleNodes
        var message = "\(running)/\(wanted) tasks running"
        let unhealthy = live.filter { $0.state == .running && $0.health == .unhealthy }.count
        if unhealthy > 0 { message += "; \(unhealthy) unhealthy" }
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

/// A min-heap of placement candidates: fewest tasks of the service, then fewest tasks, then name order.
struct PlacementHeap {
    struct Entry: Comparable {
        var sameService: Int
        var total: Int
        var index: Int

        static func < (a: Entry, b: Entry) -> Bool {
            (a.sameService, a.total, a.index) < (b.sameService, b.total, b.index)
        }
    }

    private var entries: [Entry] = []

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child] < entries[parent] else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return top }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left] < entries[smallest] { smallest = left }
            if right < entries.count && entries[right] < entries[smallest] { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
