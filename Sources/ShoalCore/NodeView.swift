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

    /// The node's view keyed by `FeedObject.key`; empty for an unknown node.
    public static func compute(_ state: ClusterState, nodeID: String) -> [String: FeedObject] {
        guard let node = state.nodes[nodeID] else { return [:] }
        var objects: [FeedObject] = []
        for task in ownTasks(state, nodeID: nodeID) {
            objects.append(
                .task(
                    FeedTask(
                        id: task.id, name: task.name, serviceID: task.serviceID,
                        serviceName: task.serviceName,
                        slot: task.slot, desiredState: task.desiredState, spec: task.spec,
                        endpoints: task.endpoints)))
        }
        let networkIDs = networks(state, nodeID: nodeID)
        for networkID in networkIDs {
            guard let network = state.networks[networkID] else { continue }
            objects.append(
                .network(
                    FeedNetwork(
                        id: network.id, name: network.name, vni: network.vni, subnet: network.subnet,
                        gateway: network.gateway, mtu: network.mtu, internal: network.internal,
                        ingress: network.ingress, loadBalancerIP: node.loadBalancerIPs[network.id])))
        }
        for task in state.tasks.values {
            guard let endpointState = endpointState(task, state: state),
                let taskNode = task.nodeID.flatMap({ state.nodes[$0] })
            else { continue }
            for endpoint in task.endpoints where networkIDs.contains(endpoint.networkID) {
                guard let address = endpoint.address, let mac = endpoint.mac else { continue }
                objects.append(
                    .endpoint(
                        FeedEndpoint(
                            networkID: endpoint.networkID, taskID: task.id, taskName: task.name,
                            serviceID: task.serviceID, serviceName: task.serviceName,
                            aliases: endpoint.aliases,
                            address: address, mac: mac, nodeID: taskNode.id, nodeAddress: taskNode.address,
                            state: endpointState)))
            }
        }
        for other in state.nodes.values where other.state == .ready {
            for (networkID, address) in other.loadBalancerIPs where networkIDs.contains(networkID) {
                objects.append(
                    .loadBalancer(
                        FeedLoadBalancer(
                            networkID: networkID, nodeID: other.id, nodeAddress: other.address,
                            address: address,
                            mac: MACAddress(derivedFrom: address))))
            }
        }
        for service in state.services.values {
            for networkID in service.networkIDs where networkIDs.contains(networkID) {
                let aliases =
                    service.spec.networks?.first { attachment in
                        attachment.target == networkID || attachment.target == state.networks[networkID]?.name
                    }?.aliases ?? []
                objects.append(
                    .service(
                        FeedService(
                            networkID: networkID, serviceID: service.id, serviceName: service.spec.name,
                            aliases: aliases, endpointMode: service.spec.effectiveEndpointMode,
                            virtualIP: service.virtualIPs.first { $0.networkID == networkID }?.address,
                            ports: service.ports.filter { $0.publishMode == .ingress })))
            }
        }
        return Dictionary(objects.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// An endpoint is in views while its task runs on a ready node: up, or draining once it is being
    /// replaced. Tasks told to stop, or on a DOWN node, leave every view.
    static func endpointState(_ task: ClusterTask, state: ClusterState) -> EndpointState? {
        guard task.state == .running, let nodeID = task.nodeID, state.nodes[nodeID]?.state == .ready else {
            return nil
        }
        switch task.desiredState {
        case .running: return .up
        case .draining: return .draining
        case .shutdown: return nil
        }
    }
}
