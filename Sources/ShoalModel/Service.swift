public enum ServiceModeKind: String, Codable, Sendable, CaseIterable {
    case replicated, global
}

public enum EndpointMode: String, Codable, Sendable, CaseIterable {
    /// One virtual IP per network, load-balanced over the tasks.
    case vip
    /// DNS round robin: the service name resolves to the task addresses.
    case dnsrr
}

/// IPVS schedulers a service may choose (the kernel's `ip_vs_<name>` modules); Swarm has rr only.
public enum LoadBalancingScheduler: String, Codable, Sendable, CaseIterable {
    /// Round robin (the default).
    case rr
    /// Weighted round robin.
    case wrr
    /// Least connections.
    case lc
    /// Weighted least connections.
    case wlc
    /// Source hashing: one client address sticks to one task.
    case sh
    /// Maglev hashing: consistent source hashing.
    case mh
}

public enum PortProtocol: String, Codable, Sendable, CaseIterable {
    case tcp, udp
}

public enum PublishMode: String, Codable, Sendable, CaseIterable {
    /// Every node listens and forwards through the routing mesh.
    case ingress
    /// Only the node running the task listens.
    case host
}

public struct PortConfig: Codable, Equatable, Hashable, Sendable {
    public var `protocol`: PortProtocol
    public var target: UInt16
    /// The port on the nodes; chosen from 30000-32767 when an ingress port leaves it out.
    public var published: UInt16?
    public var publishMode: PublishMode
    /// Names the port for DNS SRV records (`_<name>._<protocol>.<service>`); optional.
    public var name: String?

    public init(
        protocol: PortProtocol = .tcp, target: UInt16, published: UInt16? = nil,
        publishMode: PublishMode = .ingress, name: String? = nil
    ) {
        self.protocol = `protocol`
        self.target = target
        self.published = published
        self.publishMode = publishMode
        self.name = name
    }

    private enum CodingKeys: String, CodingKey {
        case `protocol`, target, published, publishMode, name
    }

    /// `protocol` defaults to tcp and `publishMode` to ingress, as in Docker.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.protocol = try container.decodeIfPresent(PortProtocol.self, forKey: .protocol) ?? .tcp
        func port(_ key: CodingKeys) throws -> UInt16? {
            guard let value = try container.decodeIfPresent(Int.self, forKey: key) else { return nil }
            guard let port = UInt16(exactly: value), port > 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "must be a port number 1-65535")
            }
            return port
        }
        guard let target = try port(.target) else {
            throw DecodingError.keyNotFound(
                CodingKeys.target,
                DecodingError.Context(codingPath: container.codingPath, debugDescription: "required"))
        }
        self.target = target
        published = try port(.published)
        publishMode = try container.decodeIfPresent(PublishMode.self, forKey: .publishMode) ?? .ingress
        name = try container.decodeIfPresent(String.self, forKey: .name)
    }
}

/// A port the tasks listen on inside their networks without publishing it on the nodes, named so
/// that DNS answers `_<name>._<protocol>.<service>` SRV questions for it.
public struct ExposedPort: Codable, Equatable, Hashable, Sendable {
    public var name: String
    public var `protocol`: PortProtocol
    public var target: UInt16

    public init(name: String, protocol: PortProtocol = .tcp, target: UInt16) {
        self.name = name
        self.protocol = `protocol`
        self.target = target
    }

    private enum CodingKeys: String, CodingKey {
        case name, `protocol`, target
    }

    /// `protocol` defaults to tcp.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        self.protocol = try container.decodeIfPresent(PortProtocol.self, forKey: .protocol) ?? .tcp
        let value = try container.decode(Int.self, forKey: .target)
        guard let port = UInt16(exactly: value), port > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .target, in: container, debugDescription: "must be a port number 1-65535")
        }
        target = port
    }
}

public enum UpdateOrder: String, Codable, Sendable, CaseIterable {
    case stopFirst = "stop-first"
    case startFirst = "start-first"
}

public struct UpdatePolicy: Codable, Equatable, Sendable {
    /// Tasks replaced at once; 0 means all at once.
    public var parallelism: Int
    /// Pause between batches.
    public var delaySeconds: Double
    public var order: UpdateOrder

    public init(parallelism: Int = 1, delaySeconds: Double = 0, order: UpdateOrder = .stopFirst) {
        self.parallelism = parallelism
        self.delaySeconds = delaySeconds
        self.order = order
    }

    private enum CodingKeys: String, CodingKey {
        case parallelism, delaySeconds, order
    }

    /// Missing fields take Swarm's defaults: one task at a time, no delay, stop-first.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        parallelism = try container.decodeIfPresent(Int.self, forKey: .parallelism) ?? 1
        delaySeconds = try container.decodeIfPresent(Double.self, forKey: .delaySeconds) ?? 0
        order = try container.decodeIfPresent(UpdateOrder.self, forKey: .order) ?? .stopFirst
    }
}

/// A network a service joins, by name or id, with extra DNS names on it.
public struct NetworkAttachment: Codable, Equatable, Sendable {
    public var target: String
    public var aliases: [String]?

    public init(target: String, aliases: [String]? = nil) {
        self.target = target
        self.aliases = aliases
    }
}

/// What a user asks for when creating or updating a service.
public struct ServiceSpec: Codable, Equatable, Sendable {
    public var name: String
    public var mode: ServiceModeKind?
    /// Replicated services only; defaults to 1.
    public var replicas: Int?
    /// The task driver runs this command in the task's namespace.
    public var command: [String]
    public var env: [String]?
    public var networks: [NetworkAttachment]?
    public var endpointMode: EndpointMode?
    public var ports: [PortConfig]?
    public var healthCheck: HealthCheck?
    public var updatePolicy: UpdatePolicy?
    /// Kept and shown (stack files name one); a task runs `command`, not an image.
    public var image: String?
    /// Free-form metadata; stacks mark their services with `shoal.stack.namespace`.
    public var labels: [String: String]?
    /// Which nodes may run the tasks.
    public var placement: Placement?
    /// Named ports reachable only inside the service's networks (DNS SRV records).
    public var expose: [ExposedPort]?
    /// The IPVS scheduler of the service's VIP and published ports; nil is round robin.
    public var scheduler: LoadBalancingScheduler?

    public init(
        name: String, mode: ServiceModeKind? = nil, replicas: Int? = nil, command: [String],
        env: [String]? = nil,
        networks: [NetworkAttachment]? = nil, endpointMode: EndpointMode? = nil, ports: [PortConfig]? = nil,
        healthCheck: HealthCheck? = nil, updatePolicy: UpdatePolicy? = nil, image: String? = nil,
        labels: [String: String]? = nil, placement: Placement? = nil, expose: [ExposedPort]? = nil,
        scheduler: LoadBalancingScheduler? = nil
    ) {
        self.name = name
        self.mode = mode
        self.replicas = replicas
        self.command = command
        self.env = env
        self.networks = networks
        self.endpointMode = endpointMode
        self.ports = ports
        self.healthCheck = healthCheck
        self.updatePolicy = updatePolicy
        self.image = image
        self.labels = labels
        self.placement = placement
        self.expose = expose
        self.scheduler = scheduler
    }

    public var effectiveMode: ServiceModeKind { mode ?? .replicated }
    public var effectiveReplicas: Int { effectiveMode == .global ? 0 : (replicas ?? 1) }
    public var effectiveEndpointMode: EndpointMode { endpointMode ?? .vip }
    public var effectiveUpdatePolicy: UpdatePolicy { updatePolicy ?? UpdatePolicy() }
    public var ingressPorts: [PortConfig] { (ports ?? []).filter { $0.publishMode == .ingress } }
}

/// A service VIP on one network.
public struct VirtualIP: Codable, Equatable, Sendable {
    public var networkID: String
    public var address: IPv4Address

    public init(networkID: String, address: IPv4Address) {
        self.networkID = networkID
        self.address = address
    }
}

/// Progress of a rolling update.
public struct UpdateStatus: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        case updating
        /// A task of the new generation failed; no further batches start until the next update.
        case paused
        case completed
    }

    public var state: State
    /// Seconds since 1970 when the last batch finished; the next starts `delay` later.
    public var lastBatchDoneAt: Double?
    /// A batch was started and its tasks are not all running yet.
    public var batchInFlight: Bool
    public var message: String

    public init(state: State, lastBatchDoneAt: Double? = nil, batchInFlight: Bool = false, message: String) {
        self.state = state
        self.lastBatchDoneAt = lastBatchDoneAt
        self.batchInFlight = batchInFlight
        self.message = message
    }
}

public struct Service: Codable, Equatable, Sendable, Identifiable {
    public var id: String
    public var version: UInt64
    public var status: String
    public var spec: ServiceSpec
    /// Bumped on every spec change; tasks made from an older generation are replaced by the updater.
    public var generation: Int
    /// Network ids the service joins (resolved from the spec; the ingress network is added for ingress ports).
    public var networkIDs: [String]
    /// Ports with every published port resolved.
    public var ports: [PortConfig]
    public var virtualIPs: [VirtualIP]
    public var update: UpdateStatus?
    /// The spec before the last update, for `service rollback`.
    public var previousSpec: ServiceSpec?

    public init(
        id: String, version: UInt64 = 0, status: String = "", spec: ServiceSpec, generation: Int = 1,
        networkIDs: [String] = [], ports: [PortConfig] = [], virtualIPs: [VirtualIP] = [],
        update: UpdateStatus? = nil, previousSpec: ServiceSpec? = nil
    ) {
        self.id = id
        self.version = version
        self.status = status
        self.spec = spec
        self.generation = generation
        self.networkIDs = networkIDs
        self.ports = ports
        self.virtualIPs = virtualIPs
        self.update = update
        self.previousSpec = previousSpec
    }
}
