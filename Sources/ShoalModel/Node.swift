import Foundation

public enum NodeRole: String, Codable, Sendable, CaseIterable {
    case manager, worker
}

/// What the scheduler may do with a node (Swarm's availability).
public enum NodeAvailability: String, Codable, Sendable, CaseIterable {
    /// New tasks may be placed here.
    case active
    /// Existing tasks stay, no new ones are placed.
    case pause
    /// Tasks are moved away.
    case drain
}

/// What the manager observed: ready while heartbeats arrive, down after too many are missed.
public enum NodeState: String, Codable, Sendable, CaseIterable {
    case ready, down
}

/// A host running `shoald agent`.
public struct Node: Codable, Equatable, Sendable, Identifiable {
    public var id: String
    public var version: UInt64
    /// A sentence a user can read about the node's condition.
    public var status: String
    public var name: String
    public var role: NodeRole
    public var availability: NodeAvailability
    public var state: NodeState
    /// The underlay address: VXLAN tunnels to this node end here.
    public var address: IPv4Address
    /// The node's load-balancer address per network id (SNAT source for IPVS, ingress sandbox).
    public var loadBalancerIPs: [String: IPv4Address]
    /// Set by an admin (`node update --label-add`); placement constraints match them.
    public var labels: [String: String]?

    public init(
        id: String, version: UInt64 = 0, status: String = "", name: String, role: NodeRole = .worker,
        availability: NodeAvailability = .active, state: NodeState = .ready, address: IPv4Address,
        loadBalancerIPs: [String: IPv4Address] = [:], labels: [String: String]? = nil
    ) {
        self.id = id
        self.version = version
        self.status = status
        self.name = name
        self.role = role
        self.availability = availability
        self.state = state
        self.address = address
        self.loadBalancerIPs = loadBalancerIPs
        self.labels = labels
    }
}

/// Body of `POST /v1/nodes/register`.
public struct NodeRegistration: Codable, Equatable, Sendable {
    /// The node's id when it already has one (e.g. issued with its certificate); the manager picks
    /// one otherwise, and a node registering again by name keeps its id.
    public var id: String?
    public var name: String
    public var address: IPv4Address
    public var role: NodeRole?

    public init(id: String? = nil, name: String, address: IPv4Address, role: NodeRole? = nil) {
        self.id = id
        self.name = name
        self.address = address
        self.role = role
    }
}

/// Body of `POST /v1/nodes/{id}/update`: fields left nil keep their value.
public struct NodeUpdate: Codable, Equatable, Sendable {
    public var availability: NodeAvailability?
    public var role: NodeRole?
    /// Replaces the node's labels when given.
    public var labels: [String: String]?

    public init(availability: NodeAvailability? = nil, role: NodeRole? = nil, labels: [String: String]? = nil)
    {
        self.availability = availability
        self.role = role
        self.labels = labels
    }
}

/// Answer to a heartbeat: when the next one is due.
public struct HeartbeatResponse: Codable, Equatable, Sendable {
    public var periodSeconds: Double
    public var state: NodeState

    public init(periodSeconds: Double, state: NodeState) {
        self.periodSeconds = periodSeconds
        self.state = state
    }
}
