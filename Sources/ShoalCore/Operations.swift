import ShoalModel

/// The changes users and agents ask for, validated and applied to the state inside one store
/// write. Any thrown error leaves the state untouched.
public enum Operations {
    // MARK: validation helpers

    static func checkName(_ name: String, field: String = "name") throws(StoreError) {
        guard !name.isEmpty, name.count <= 63 else {
            throw .invalid(field: field, reason: "must be 1 to 63 characters")
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || "-_.".unicodeScalars.contains(scalar))
        }
        guard allowed, let first = name.unicodeScalars.first, first != "-", first != ".", first != "_" else {
            throw .invalid(
                field: field,
                reason: "must start with a letter or digit and hold only letters, digits, '-', '_' and '.'")
        }
    }

    /// Docker's rules for names: unique ignoring case within a kind, and never another object's id
    /// (lookups take an id first, so such a name would shadow that object).
    static func checkUniqueName(
        _ name: String, kind: String, named: [(id: String, name: String)], selfID: String? = nil
    ) throws(StoreError) {
        let folded = name.lowercased()
        for other in named where other.id != selfID {
            if other.name.lowercased() == folded {
                let same = other.name == name ? "" : " (names differ only in case)"
                throw .conflict("a \(kind) named \(other.name) exists\(same)")
            }
            if other.id == name {
                throw .conflict("\(name) is the id of \(kind) \(other.name); choose another name")
            }
        }
    }

    static func checkLabels(_ labels: [String: String]?) throws(StoreError) {
        for key in (labels ?? [:]).keys.sorted() where key.isEmpty || key.contains("=") {
            throw .invalid(field: "labels", reason: "label name '\(key)' must be non-empty and hold no '='")
        }
    }

    static func checkVersion(_ given: UInt64?, current: UInt64, what: String) throws(StoreError) {
        guard let given else {
            throw .invalid(field: "version", reason: "the query parameter version is required")
        }
        guard given == current else {
            throw .conflict("\(what) is at version \(current), the update was made against version \(given)")
        }
    }

    // MARK: cluster

    /// Creates the ingress network at first start.
    public static func initCluster(_ state: inout ClusterState, id: String, config: AllocatorConfig)
        throws(StoreError)
    {
        guard state.ingressNetwork == nil else { return }
        let network = try Allocator.makeNetwork(
            id: id, spec: NetworkSpec(name: "ingress", subnet: config.ingressSubnet), ingress: true,
            state: &state, config: config)
        state.networks[network.id] = network
    }

    // MARK: networks

    public static func createNetwork(
        _ spec: NetworkSpec, id: String, state: inout ClusterState, config: AllocatorConfig
    ) throws(StoreError) -> Network {
        try checkName(spec.name)
        try checkUniqueName(spec.name, kind: "network", named: state.networks.values.map { ($0.id, $0.name) })
        if let subnet = spec.subnet {
            guard subnet.prefixLength <= 30 else {
                throw .invalid(field: "subnet", reason: "prefix must be /30 or larger")
            }
            guard subnet.address == subnet.network else {
                throw .invalid(
                    field: "subnet",
                    reason:
                        "\(subnet) has host bits set; did you mean \(subnet.network)/\(subnet.prefixLength)?")
            }
            if let problem = AddressRules.subnetProblem(subnet) {
                throw .invalid(field: "subnet", reason: problem)
            }
            let others = state.networks.values.sorted { $0.name < $1.name }
            if let other = others.first(where: { $0.subnet.overlaps(subnet) }) {
                throw .conflict("subnet \(subnet) overlaps network \(other.name) (\(other.subnet))")
            }
        }
        if let gateway = spec.gateway {
            guard let subnet = spec.subnet else {
                throw .invalid(field: "gateway", reason: "needs an explicit subnet")
            }
            guard subnet.contains(gateway), gateway != subnet.network, gateway != subnet.broadcast else {
                throw .invalid(field: "gateway", reason: "\(gateway) is not a host address of \(subnet)")
            }
        }
        if let range = spec.ipRange {
            guard let subnet = spec.subnet else {
                throw .invalid(field: "ipRange", reason: "needs an explicit subnet")
            }
            guard subnet.contains(range.network), subnet.contains(range.broadcast) else {
                throw .invalid(field: "ipRange", reason: "\(range) is not inside \(subnet)")
            }
        }
        if let mtu = spec.mtu, !(576...9000).contains(mtu) {
            throw .invalid(field: "mtu", reason: "must be between 576 and 9000")
        }
        try checkLabels(spec.labels)
        var network = try Allocator.makeNetwork(
            id: id, spec: spec, ingress: false, state: &state, config: config)
        network.labels = spec.labels
        state.networks[network.id] = network
        return network
    }

    /// Only `attachable` may change: everything else is baked into every node's kernel state.
    public static func updateNetwork(
        _ nameOrID: String, version: UInt64?, spec: NetworkSpec, state: inout ClusterState
    ) throws(StoreError) -> Network {
        guard var network = state.network(named: nameOrID) else { throw .notFound("no network \(nameOrID)") }
        try checkVersion(version, current: network.version, what: "network \(network.name)")
        let fixed: [(String, Bool)] = [
            ("name", spec.name != network.name),
            ("subnet", spec.subnet.map { $0 != network.subnet } ?? false),
            ("gateway", spec.gateway.map { $0 != network.gateway } ?? false),
            ("ipRange", spec.ipRange != nil && spec.ipRange != network.ipRange),
            ("mtu", spec.mtu.map { $0 != network.mtu } ?? false),
            ("internal", spec.internal.map { $0 != network.internal } ?? false),
        ]
        if let (field, _) = fixed.first(where: { $0.1 }) {
            throw .invalid(field: field, reason: "cannot change on an existing network")
        }
        if let attachable = spec.attachable { network.attachable = attachable }
        state.networks[network.id] = network
        return network
    }

    public static func removeNetwork(_ nameOrID: String, state: inout ClusterState) throws(StoreError) {
        guard let network = state.network(named: nameOrID) else { throw .notFound("no network \(nameOrID)") }
        if network.ingress { throw .conflict("the ingress network cannot be removed") }
        if let user = state.services.values.first(where: { $0.networkIDs.contains(network.id) }) {
            throw .conflict("network \(network.name) is in use by service \(user.spec.name)")
        }
        if state.tasks.values.contains(where: { task in
            !task.state.isTerminal && task.endpoints.contains { $0.networkID == network.id }
        }) {
            throw .conflict("network \(network.name) still has tasks that have not stopped")
        }
        state.networks[network.id] = nil
        state.cursors.lastAddress[network.id] = nil
    }

    // MARK: services

    /// Checks a service spec and resolves its networks; throws 400 naming the field.
    static func validateService(_ spec: ServiceSpec, state: ClusterState) throws(StoreError) -> [String] {
        try checkName(spec.name)
        if spec.effectiveMode == .global, spec.replicas != nil {
            throw .invalid(field: "replicas", reason: "a global service has no replica count")
        }
        if let replicas = spec.replicas, !(0...10_000).contains(replicas) {
            throw .invalid(field: "replicas", reason: "must be between 0 and 10000")
        }
        if spec.command.isEmpty || spec.command[0].isEmpty {
            throw .invalid(field: "command", reason: "must name a program to run")
        }
        for (index, entry) in (spec.env ?? []).enumerated() where !entry.contains("=") || entry.hasPrefix("=")
        {
            throw .invalid(field: "env[\(index)]", reason: "must look like NAME=value")
        }
        var networkIDs: [String] = []
        for (index, attachment) in (spec.networks ?? []).enumerated() {
            guard let network = state.network(named: attachment.target) else {
                throw .invalid(field: "networks[\(index)].target", reason: "no network \(attachment.target)")
            }
            if network.ingress {
                throw .invalid(
                    field: "networks[\(index)].target",
                    reason: "the ingress network is joined through published ports")
            }
            if networkIDs.contains(network.id) {
                throw .invalid(
                    field: "networks[\(index)].target", reason: "network \(network.name) is listed twice")
            }
            for (aliasIndex, alias) in (attachment.aliases ?? []).enumerated() {
                try checkName(alias, field: "networks[\(index)].aliases[\(aliasIndex)]")
            }
            networkIDs.append(network.id)
        }
        for (index, port) in (spec.ports ?? []).enumerated() {
            if port.target == 0 { throw .invalid(field: "ports[\(index)].target", reason: "must be 1-65535") }
            if port.published == 0 {
                throw .invalid(field: "ports[\(index)].published", reason: "must be 1-65535")
            }
            if port.publishMode == .ingress && spec.effectiveEndpointMode == .dnsrr {
                throw .invalid(
                    field: "ports[\(index)].publishMode",
                    reason: "a port published in ingress mode cannot be used with endpoint mode dnsrr")
            }
        }
        try checkExposed(spec.expose ?? [])
        if spec.scheduler != nil && spec.effectiveEndpointMode == .dnsrr {
            throw .invalid(
                field: "scheduler",
                reason: "endpoint mode dnsrr has no VIP to schedule: use endpoint mode vip")
        }
        if let policy = spec.updatePolicy {
            if policy.parallelism < 0 {
                throw .invalid(field: "updatePolicy.parallelism", reason: "must be 0 or more")
            }
            if policy.delaySeconds < 0 || !policy.delaySeconds.isFinite {
                throw .invalid(field: "updatePolicy.delaySeconds", reason: "must be 0 or more")
            }
        }
        if let check = spec.healthCheck { try HealthRules.validate(check) }
        for (index, constraint) in (spec.placement?.constraints ?? []).enumerated() {
            do throws(PlacementError) {
                _ = try PlacementConstraint(parsing: constraint)
            } catch {
                throw .invalid(field: "placement.constraints[\(index)]", reason: error.description)
            }
        }
        try checkLabels(spec.labels)
        if !spec.ingressPorts.isEmpty, let ingress = state.ingressNetwork { networkIDs.append(ingress.id) }
        return networkIDs
    }

    public static func createService(
        _ spec: ServiceSpec, id: String, state: inout ClusterState, config: AllocatorConfig
    ) throws(StoreError) -> Service {
        let networkIDs = try validateService(spec, state: state)
        try checkUniqueName(spec.name, kind: "service", named: state.servicesClashing(with: spec.name))
        let ports = try Allocator.resolvePorts(
            spec.ports ?? [], serviceID: id, state: &state, config: config, previous: [])
        let service = Service(id: id, status: "created", spec: spec, networkIDs: networkIDs, ports: ports)
        state.services[id] = service
        return service
    }

    /// Scaling alone changes no task; any other change bumps the generation and starts a rolling update.
    public static func updateService(
        _ nameOrID: String, version: UInt64?, spec: ServiceSpec, state: inout ClusterState,
        config: AllocatorConfig
    ) throws(StoreError) -> Service {
        guard var service = state.service(named: nameOrID) else { throw .notFound("no service \(nameOrID)") }
        try checkVersion(version, current: service.version, what: "service \(service.spec.name)")
        if spec.name != service.spec.name {
            throw .invalid(field: "name", reason: "a service cannot be renamed")
        }
        if spec.effectiveMode != service.spec.effectiveMode {
            throw .invalid(field: "mode", reason: "cannot change from \(service.spec.effectiveMode.rawValue)")
        }
        let networkIDs = try validateService(spec, state: state)
        let ports = try Allocator.resolvePorts(
            spec.ports ?? [], serviceID: service.id, state: &state, config: config, previous: service.ports)
        var scaledOnly = spec
        scaledOnly.replicas = service.spec.replicas
        // Labels and the image are metadata (a task runs its command): no task is replaced for them.
        scaledOnly.labels = service.spec.labels
        scaledOnly.image = service.spec.image
        let changesTasks = scaledOnly != service.spec || networkIDs != service.networkIDs
        if spec != service.spec { service.previousSpec = service.spec }
        service.spec = spec
        service.networkIDs = networkIDs
        service.ports = ports
        if changesTasks {
            service.generation += 1
            service.update = UpdateStatus(
                state: .updating, message: "update to generation \(service.generation) started")
        }
        state.services[service.id] = service
        return service
    }

    public static func removeService(_ nameOrID: String, state: inout ClusterState) throws(StoreError) {
        guard let service = state.service(named: nameOrID) else { throw .notFound("no service \(nameOrID)") }
        state.services[service.id] = nil
    }

    // MARK: nodes

    /// A node joins, or rejoins under the same name (its id stays).
    public static func registerNode(_ registration: NodeRegistration, id: String, state: inout ClusterState)
        throws(StoreError)
        -> Node
    {
        try checkName(registration.name)
        if let problem = AddressRules.nodeAddressProblem(registration.address, state: state) {
            throw .invalid(field: "address", reason: problem)
        }
        if let other = state.nodes[registration.name], other.id != registration.id {
            throw .conflict("\(registration.name) is the id of node \(other.name); choose another name")
        }
        if let given = registration.id {
            try checkName(given, field: "id")
            if let other = state.nodes.values.first(where: { $0.name == registration.name && $0.id != given })
            {
                throw .conflict("node name \(registration.name) is taken by node \(other.id)")
            }
        }
        let existing =
            registration.id.flatMap { state.nodes[$0] }
            ?? (registration.id == nil ? state.nodes.values.first { $0.name == registration.name } : nil)
        if var node = existing {
            node.name = registration.name
            node.address = registration.address
            node.state = .ready
            node.status = "registered again"
            if let role = registration.role { node.role = role }
            state.nodes[node.id] = node
            return node
        }
        let node = Node(
            id: registration.id ?? id, status: "registered", name: registration.name,
            role: registration.role ?? .worker,
            address: registration.address)
        state.nodes[node.id] = node
        return node
    }

    public static func updateNode(
        _ nameOrID: String, version: UInt64?, update: NodeUpdate, state: inout ClusterState
    ) throws(StoreError) -> Node {
        guard var node = state.node(named: nameOrID) else { throw .notFound("no node \(nameOrID)") }
        try checkVersion(version, current: node.version, what: "node \(node.name)")
        if let availability = update.availability { node.availability = availability }
        if let role = update.role { node.role = role }
        if let labels = update.labels {
            try checkLabels(labels)
            node.labels = labels.isEmpty ? nil : labels
        }
        state.nodes[node.id] = node
        return node
    }

    /// A ready node must be forced out; its tasks are given up. Their addresses come back after
    /// `quarantineSeconds` from `now`: the node's processes may still answer on them.
    public static func removeNode(
        _ nameOrID: String, force: Bool, state: inout ClusterState, now: Double = 0,
        quarantineSeconds: Double = 0
    )
        throws(StoreError)
    {
        guard let node = state.node(named: nameOrID) else { throw .notFound("no node \(nameOrID)") }
        if node.state == .ready && !force {
            throw .conflict(
                "node \(node.name) is ready; drain it and stop its agent, or remove it with force=true")
        }
        state.nodes[node.id] = nil
        var quarantined = state.cursors.quarantined ?? []
        if quarantineSeconds > 0 {
            // Its load balancers too: its IPVS still SNATs from them.
            for (networkID, address) in node.loadBalancerIPs.sorted(by: { $0.key < $1.key }) {
                quarantined.append(
                    QuarantinedAddress(
                        networkID: networkID, address: address, until: now + quarantineSeconds,
                        holder: "lb \(node.name)"))
            }
        }
        for (id, task) in state.tasks where task.nodeID == node.id && !task.state.isTerminal {
            if quarantineSeconds > 0 {
                for endpoint in task.endpoints {
                    guard let address = endpoint.address else { continue }
                    quarantined.append(
                        QuarantinedAddress(
                            networkID: endpoint.networkID, address: address, until: now + quarantineSeconds,
                            holder: task.name))
                }
            }
            state.tasks[id]?.desiredState = .shutdown
            state.tasks[id]?.state = .shutdown
            state.tasks[id]?.status = "node \(node.name) was removed"
        }
        if !quarantined.isEmpty { state.cursors.quarantined = quarantined }
    }

    /// A heartbeat from a DOWN node brings it back.
    public static func heartbeat(_ nodeID: String, state: inout ClusterState) throws(StoreError) -> Node {
        guard var node = state.nodes[nodeID] else { throw .notFound("no node \(nodeID)") }
        if node.state == .down {
            node.state = .ready
            node.status = "ready again"
            state.nodes[nodeID] = node
        }
        return node
    }

    // MARK: tasks

    /// A state report from the agent running the task. Reports that would move a task backwards are ignored.
    public static func reportTaskStatus(
        _ taskID: String, report: TaskStatusReport, state: inout ClusterState, now: Double
    ) throws(StoreError) -> ClusterTask {
        guard var task = state.tasks[taskID] else { throw .notFound("no task \(taskID)") }
        guard task.nodeID == report.nodeID else {
            throw .conflict("task \(task.name) is not assigned to node \(report.nodeID)")
        }
        guard state.nodes[report.nodeID] != nil else { throw .notFound("no node \(report.nodeID)") }
        if report.state.rank < TaskState.starting.rank {
            throw .invalid(
                field: "state",
                reason: "agents report starting, running, complete, failed, shutdown or rejected")
        }
        if task.state.isTerminal || report.state.rank < task.state.rank { return task }
        HealthRules.apply(report, to: &task, now: now)
        state.tasks[taskID] = task
        return task
    }

    /// Stops a task; the orchestrator replaces it if its service still wants one.
    public static func removeTask(_ nameOrID: String, state: inout ClusterState) throws(StoreError) {
        guard let task = state.task(named: nameOrID) else { throw .notFound("no task \(nameOrID)") }
        guard task.desiredState != .shutdown else { return }
        state.tasks[task.id]?.desiredState = .shutdown
        state.tasks[task.id]?.status = "stopped by request"
    }
}
