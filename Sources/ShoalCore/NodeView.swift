import ShoalModel

/// What one node is told: its own tasks, and for every network it takes part in the network, every
/// endpoint, load balancer and service on it.
public enum NodeView {
    /// A node's tasks the agent must act on: every one not yet known to have stopped.
    static func ownTasks(_ state: ClusterState, nodeID: String) -> [ClusterTask] {
        state.tasks.values.filter { $0.nodeID == nodeID && !$0.state.isTerminal }
    }

    /// The networks a node takes part in: ingress (the routing mesh is everywhere) and those of its tasks.
    public static func networks(_ state: ClusterState, nodeID: String) -> Set<String> {
        var ids = Set<String>()
        if let ingress = state.ingressNetwork { ids.insert(ingress.id) }
        for task in ownTasks(state, nodeID: nodeID) {
            for endpoint in task.endpoints { ids.insert(endpoint.networkID) }
        }
        return ids
    }

    /// The node's view keyed by `FeedObject.key`; empty for an unknown node. The feed keeps views
    /// up to date from changes (`FeedHub`); this computes one whole, from a state (resumes, tests).
    public static func compute(_ state: ClusterState, nodeID: String) -> [String: FeedObject] {
        guard let node = state.nodes[nodeID] else { return [:] }
        var objects: [FeedObject] = []
        for task in ownTasks(state, nodeID: nodeID) { objects.append(taskObject(task)) }
        let networkIDs = networks(state, nodeID: nodeID)
        for networkID in networkIDs {
            guard let network = state.networks[networkID] else { continue }
            objects.append(networkObject(network, node: node))
        }
        for task in state.tasks.values {
            for endpoint in task.endpoints where networkIDs.contains(endpoint.networkID) {
                if let object = endpointObject(task, networkID: endpoint.networkID, state: state) {
                    objects.append(object)
                }
            }
        }
        for other in state.nodes.values {
            for networkID in other.loadBalancerIPs.keys where networkIDs.contains(networkID) {
                if let object = loadBalancerObject(other, networkID: networkID) { objects.append(object) }
            }
        }
        for service in state.services.values {
            for networkID in service.networkIDs where networkIDs.contains(networkID) {
                objects.append(serviceObject(service, networkID: networkID, state: state))
            }
        }
        return Dictionary(objects.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: one object each (shared with FeedHub)

    static func taskObject(_ task: ClusterTask) -> FeedObject {
        .task(
            FeedTask(
                id: task.id, name: task.name, serviceID: task.serviceID, serviceName: task.serviceName,
                slot: task.slot, desiredState: task.desiredState, spec: task.spec, endpoints: task.endpoints))
    }

    /// The network as this node programs it (with its own load-balancer address).
    static func networkObject(_ network: Network, node: Node) -> FeedObject {
        .network(
            FeedNetwork(
                id: network.id, name: network.name, vni: network.vni, subnet: network.subnet,
                gateway: network.gateway, mtu: network.mtu, internal: network.internal,
                ingress: network.ingress, loadBalancerIP: node.loadBalancerIPs[network.id]))
    }

    /// The task's endpoint on a network, while it is in views (see `endpointState`).
    static func endpointObject(_ task: ClusterTask, networkID: String, state: ClusterState) -> FeedObject? {
        guard let endpointState = endpointState(task, state: state),
            let taskNode = task.nodeID.flatMap({ state.nodes[$0] }),
            let endpoint = task.endpoints.first(where: { $0.networkID == networkID }),
            let address = endpoint.address, let mac = endpoint.mac
        else { return nil }
        return .endpoint(
            FeedEndpoint(
                networkID: networkID, taskID: task.id, taskName: task.name, serviceID: task.serviceID,
                serviceName: task.serviceName, aliases: endpoint.aliases, address: address, mac: mac,
                nodeID: taskNode.id, nodeAddress: taskNode.address, state: endpointState))
    }

    /// A node's load balancer on a network, while the node is ready.
    static func loadBalancerObject(_ node: Node, networkID: String) -> FeedObject? {
        guard node.state == .ready, let address = node.loadBalancerIPs[networkID] else { return nil }
        return .loadBalancer(
            FeedLoadBalancer(
                networkID: networkID, nodeID: node.id, nodeAddress: node.address, address: address,
                mac: MACAddress(derivedFrom: address)))
    }

    static func serviceObject(_ service: Service, networkID: String, state: ClusterState) -> FeedObject {
        let aliases =
            service.spec.networks?.first { attachment in
                attachment.target == networkID || attachment.target == state.networks[networkID]?.name
            }?.aliases ?? []
        return .service(
            FeedService(
                networkID: networkID, serviceID: service.id, serviceName: service.spec.name, aliases: aliases,
                endpointMode: service.spec.effectiveEndpointMode,
                virtualIP: service.virtualIPs.first { $0.networkID == networkID }?.address,
                ports: service.ports.filter { $0.publishMode == .ingress }, exposed: service.spec.expose,
                scheduler: service.spec.scheduler))
    }

    /// An endpoint is in views while its task runs on a ready node: up, unhealthy while its health
    /// check has not passed (a new task joins its VIP once healthy), or draining once it is being
    /// replaced. Tasks told to stop, or on a DOWN node, leave every view.
    static func endpointState(_ task: ClusterTask, state: ClusterState) -> EndpointState? {
        guard task.state == .running, let nodeID = task.nodeID, state.nodes[nodeID]?.state == .ready else {
            return nil
        }
        switch task.desiredState {
        case .running: return task.isServing ? .up : .unhealthy
        case .draining: return .draining
        case .shutdown: return nil
        }
    }
}
