import ShoalModel

/// How far a service is from what its spec asks: one line per slot (replicated) or node (global).
/// A pure function of the service, its tasks and the nodes, so it is tested without a manager.
struct Convergence: Equatable {
    struct Slot: Equatable {
        var label: String
        var state: String
        var detail: String
    }

    var service: String
    var running: Int
    var desired: Int
    var slots: [Slot]
    /// Every wanted task of the current generation runs and nothing extra is wanted.
    var done: Bool
    /// The update paused on a failed task: waiting longer does not help.
    var failure: String?

    var overall: String { "overall progress: \(running) out of \(desired) tasks" }

    init(service: Service, tasks: [ClusterTask], nodes: [Node]) {
        self.service = service.spec.name
        let current = tasks.filter { $0.serviceID == service.id && $0.desiredState == .running }
        func isRunning(_ task: ClusterTask) -> Bool {
            task.state == .running && task.generation == service.generation
        }
        // The newest task of each slot tells its story (a failed one stays until it is replaced).
        let newest = Dictionary(grouping: tasks.filter { $0.serviceID == service.id }, by: \.slotKey)
            .compactMapValues { group in
                group.max {
                    ($0.desiredState == .running ? 1 : 0, $0.version) < (
                        $1.desiredState == .running ? 1 : 0, $1.version
                    )
                }
            }
        var slots: [Slot] = []
        let names = Dictionary(nodes.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        func slot(_ label: String, _ task: ClusterTask?) -> Slot {
            guard let task else {
                return Slot(label: label, state: "new", detail: "waiting for the orchestrator")
            }
            let node = task.nodeID.map { names[$0] ?? $0 }
            let detail = task.state == .running ? (node.map { "on \($0)" } ?? "") : task.status
            return Slot(label: label, state: task.state.rawValue, detail: detail)
        }
        switch service.spec.effectiveMode {
        case .replicated:
            desired = service.spec.effectiveReplicas
            for index in stride(from: 1, through: desired, by: 1) {
                slots.append(slot("\(index)/\(desired)", newest["slot:\(index)"]))
            }
        case .global:
            let eligible = nodes.filter { node in
                node.state == .ready && node.availability == .active
                    && (service.spec.placement?.allows(node) ?? true)
            }.sorted { $0.name < $1.name }
            desired = eligible.count
            for node in eligible { slots.append(slot(node.name, newest["node:\(node.id)"])) }
        }
        running = current.filter(isRunning).count
        done = running == desired && current.count == desired
        if let update = service.update, update.state == .paused { failure = update.message }
        self.slots = slots
    }
}
