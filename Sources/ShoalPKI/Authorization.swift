/// What a caller of the manager's API wants to do. Routes map to one action each.
public enum Action: Sendable, Hashable, CustomStringConvertible {
    /// Hold the feed stream of a node.
    case readFeed(nodeID: String)
    /// Report the state of a task placed on a node (`nodeID` is the task's node as the store knows it).
    case reportTask(nodeID: String)
    /// Heartbeat as a node.
    case heartbeat(nodeID: String)
    /// Ask for a renewed certificate for a node.
    case renewCertificate(nodeID: String)
    /// Manager-to-manager calls (reserved for more than one manager).
    case managerPeer
    /// Cluster administration: services, networks, node rm, token rotation, inspection.
    case admin

    public var description: String {
        switch self {
        case .readFeed(let node): return "read the feed of node \(node)"
        case .reportTask(let node): return "report tasks of node \(node)"
        case .heartbeat(let node): return "heartbeat as node \(node)"
        case .renewCertificate(let node): return "renew the certificate of node \(node)"
        case .managerPeer: return "call manager peer routes"
        case .admin: return "call admin routes"
        }
    }
}

/// The role rules:
/// - worker: its own feed, heartbeats, task reports and renewal; nothing for another node, no admin.
/// - manager: the same for its own node (a manager also runs an agent), plus manager-peer calls.
///   A manager certificate is NOT an admin credential: admin needs the admin certificate or the
///   manager's local unix socket (which the API layer maps to an admin identity).
/// - admin: admin routes and reading any node's feed (inspection); it is not a node, so it never
///   reports tasks, heartbeats or renews as one.
public enum Authorizer {
    public static func authorize(_ identity: NodeIdentity, _ action: Action) throws(AuthorizationError) {
        switch (identity.role, action) {
        case (.admin, .admin), (.admin, .readFeed):
            return
        case (.admin, .reportTask), (.admin, .heartbeat), (.admin, .renewCertificate), (.admin, .managerPeer):
            throw .notPermitted(role: .admin, action: action.description)
        case (_, .admin):
            throw .adminRequired(role: identity.role)
        case (.manager, .managerPeer):
            return
        case (_, .managerPeer):
            throw .managerRequired(role: identity.role)
        case (_, .readFeed(let node)), (_, .reportTask(let node)), (_, .heartbeat(let node)),
            (_, .renewCertificate(let node)):
            guard node == identity.nodeID else {
                throw .notOwnNode(identity: identity.nodeID, requested: node)
            }
        }
    }
}
