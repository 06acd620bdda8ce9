/// What the manager wants a task to be.
public enum DesiredState: String, Codable, Sendable, CaseIterable {
    case running
    /// Still running, but its backend weight is 0: no new connections reach it.
    case draining
    case shutdown
}

/// What a task is, as reported by its agent (or decided by the manager before it is placed).
public enum TaskState: String, Codable, Sendable, CaseIterable {
    /// Created, waiting for addresses.
    case new
    /// Addresses allocated, waiting for a node.
    case pending
    /// Placed on a node, the agent has not started it yet.
    case assigned
    case starting
    case running
    case complete
    case failed
    case shutdown
    case rejected

    public var isTerminal: Bool {
        switch self {
        case .complete, .failed, .shutdown, .rejected: true
        default: false
        }
    }

    /// Order used to ignore out-of-date reports (a task never goes back from running to starting).
    public var rank: Int {
        switch self {
        case .new: 0
        case .pending: 1
        case .assigned: 2
        case .starting: 3
        case .running: 4
        case .complete, .failed, .shutdown, .rejected: 5
        }
    }
}

/// A task's attachment to one network.
public struct TaskEndpoint: Codable, Equatable, Sendable {
    public var networkID: String
    public var networkName: String
    public var aliases: [String]
    public var address: IPv4Address?
    public var mac: MACAddress?

    public init(
        networkID: String, networkName: String, aliases: [String] = [], address: IPv4Address? = nil,
        mac: MACAddress? = nil
    ) {
        self.networkID = networkID
        self.networkName = networkName
        self.aliases = aliases
        self.address = address
        self.mac = mac
    }
}

/// What the agent needs to run a task.
public struct TaskSpec: Codable, Equatable, Sendable {
    public var command: [String]
    public var env: [String]
    public var healthCheck: HealthCheck?
    /// Ports published in host mode: only the task's node listens.
    public var hostPorts: [PortConfig]

    public init(
        command: [String], env: [String] = [], healthCheck: HealthCheck? = nil, hostPorts: [PortConfig] = []
    ) {
        self.command = command
        self.env = env
        self.healthCheck = healthCheck
        self.hostPorts = hostPorts
    }
}

public struct ClusterTask: Codable, Equatable, Sendable, Identifiable {
    public var id: String
    public var version: UInt64
    public var status: String
    /// `<service>.<slot>.<id>` for replicated tasks, `<service>.<node id>.<id>` for global ones.
    public var name: String
    public var serviceID: String
    public var serviceName: String
    /// Replicated: 1...replicas. Global: 0 (the node is the slot).
    public var slot: Int
    public var nodeID: String?
    public var generation: Int
    public var desiredState: DesiredState
    public var state: TaskState
    /// Seconds since 1970 when the task was set to draining; it is told to stop after the drain period.
    public var drainingSince: Double?
    public var spec: TaskSpec
    public var endpoints: [TaskEndpoint]
    /// Nil without a health check; `starting` from the time it runs until a probe succeeds.
    public var health: TaskHealth?
    /// Seconds since 1970 when the agent reported it unhealthy: it is replaced after
    /// `HealthCheck.replaceAfterSeconds`.
    public var unhealthySince: Double?

    public init(
        id: String, version: UInt64 = 0, status: String = "", name: String, serviceID: String,
        serviceName: String,
        slot: Int, nodeID: String? = nil, generation: Int, desiredState: DesiredState = .running,
        state: TaskState = .new, drainingSince: Double? = nil, spec: TaskSpec, endpoints: [TaskEndpoint],
        health: TaskHealth? = nil, unhealthySince: Double? = nil
    ) {
        self.id = id
        self.version = version
        self.status = status
        self.name = name
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.slot = slot
        self.nodeID = nodeID
        self.generation = generation
        self.desiredState = desiredState
        self.state = state
        self.drainingSince = drainingSince
        self.spec = spec
        self.endpoints = endpoints
        self.health = health
        self.unhealthySince = unhealthySince
    }

    /// Running, and healthy when its service has a health check: what may take new connections.
    public var isServing: Bool {
        state == .running && (spec.healthCheck == nil || health == .healthy)
    }

    /// The key the orchestrator keeps one task per: the slot, or the node for global services.
    public var slotKey: String { slot > 0 ? "slot:\(slot)" : "node:\(nodeID ?? "")" }
}

/// Body of `POST /v1/tasks/{id}/status`, sent by the agent running the task.
public struct TaskStatusReport: Codable, Equatable, Sendable {
    public var nodeID: String
    public var state: TaskState
    public var message: String?
    /// With state running, for a task with a health check: sent when the health changes.
    public var health: TaskHealth?

    public init(nodeID: String, state: TaskState, message: String? = nil, health: TaskHealth? = nil) {
        self.nodeID = nodeID
        self.state = state
        self.message = message
        self.health = health
    }
}
