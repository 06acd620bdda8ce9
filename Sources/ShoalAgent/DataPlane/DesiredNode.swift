import ShoalModel

/// A remote endpoint on a network, as this node programs it: neighbour IP -> MAC, FDB MAC -> VTEP.
public struct Peer: Hashable, Codable, Sendable, Comparable {
    public var address: IPv4Address
    public var mac: MACAddress
    public var vtep: IPv4Address

    public init(address: IPv4Address, mac: MACAddress, vtep: IPv4Address) {
        self.address = address
        self.mac = mac
        self.vtep = vtep
    }

    public static func < (lhs: Peer, rhs: Peer) -> Bool { lhs.address < rhs.address }
}

/// An overlay network this node takes part in because a local task attaches to it.
public struct DesiredNetwork: Equatable, Codable, Sendable {
    public var id: String
    public var name: String
    public var vni: UInt32
    public var mtu: Int
    public var subnet: CIDR
    /// Sorted by address.
    public var peers: [Peer]
    /// The routing mesh's network: on every node while a service publishes a port (docs/mesh.md).
    public var ingress = false
}

/// One of a task's network attachments: the task side is `eth<index>`.
public struct TaskAttachment: Equatable, Codable, Sendable {
    public var networkID: String
    public var index: Int
    public var address: IPv4Address
    public var prefixLength: Int
    public var mac: MACAddress
    public var mtu: Int
}

/// A local task the agent runs.
public struct DesiredTask: Equatable, Codable, Sendable {
    public var id: String
    public var name: String
    public var serviceName: String
    /// The service's slot (or 0 for global): a replacement task waits out the restart delay.
    public var slot: Int
    public var command: [String]
    public var env: [String]
    /// False when the manager wants it stopped (shutdown).
    public var run: Bool
    public var attachments: [TaskAttachment]
    /// A veth on the node's gateway bridge with the default route (masqueraded): false when every
    /// network of the task is internal.
    public var egress: Bool
    /// Names the task may resolve (its service, aliases, services sharing a network): the DNS seam.
    public var visibleNames: [String]
}

/// What the feed says this node should have.
public struct DesiredNode: Equatable, Codable, Sendable {
    public var networks: [String: DesiredNetwork] = [:]
    public var tasks: [String: DesiredTask] = [:]

    public init() {}

    /// Builds the node's desired state from its feed view. A network gets kernel objects only
    /// when a local task that should run, or whose process still lives (`liveTasks`), attaches to it.
    public init(view: [String: FeedObject], nodeID: String, liveTasks: Set<String> = []) {
        var networks: [String: FeedNetwork] = [:]
        var endpoints: [FeedEndpoint] = []
        var balancers: [FeedLoadBalancer] = []
        var services: [FeedService] = []
        var feedTasks: [FeedTask] = []
        for object in view.values {
            switch object {
            case .network(let network): networks[network.id] = network
            case .endpoint(let endpoint): endpoints.append(endpoint)
            case .loadBalancer(let balancer): balancers.append(balancer)
            case .service(let service): services.append(service)
            case .task(let task): feedTasks.append(task)
            }
        }
        for task in feedTasks {
            let run = task.desiredState != .shutdown
            var attachments: [TaskAttachment] = []
            for (index, endpoint) in task.endpoints.enumerated() {
                guard let network = networks[endpoint.networkID], let address = endpoint.address,
                    let mac = endpoint.mac
                else { continue }
                attachments.append(
                    TaskAttachment(
                        networkID: network.id, index: index, address: address,
                        prefixLength: network.subnet.prefixLength, mac: mac, mtu: network.mtu))
            }
            let networkIDs = Set(attachments.map(\.networkID))
            let egress =
                attachments.isEmpty || attachments.contains { networks[$0.networkID]?.internal == false }
            var names = Set([task.serviceName])
            for service in services where networkIDs.contains(service.networkID) {
                names.insert(service.serviceName)
                names.formUnion(service.aliases)
            }
            tasks[task.id] = DesiredTask(
                id: task.id, name: task.name, serviceName: task.serviceName, slot: task.slot,
                command: task.spec.command,
                env: task.spec.env, run: run, attachments: attachments, egress: egress,
                visibleNames: names.sorted())
        }
        var needed = Set(
            tasks.values.filter { $0.run || liveTasks.contains($0.id) }.flatMap {
                $0.attachments.map(\.networkID)
            })
        // Published ports answer on every node, with or without a task of the service.
        for service in services where networks[service.networkID]?.ingress == true && !service.ports.isEmpty {
            needed.insert(service.networkID)
        }
        for id in needed {
            guard let network = networks[id] else { continue }
            self.networks[id] = DesiredNetwork(
                id: id, name: network.name, vni: network.vni, mtu: network.mtu, subnet: network.subnet,
                peers: [], ingress: network.ingress)
        }
        let remote =
            endpoints.filter { $0.nodeID != nodeID }.map {
                ($0.networkID, Peer(address: $0.address, mac: $0.mac, vtep: $0.nodeAddress))
            }
            + balancers.filter { $0.nodeID != nodeID }.map {
                ($0.networkID, Peer(address: $0.address, mac: $0.mac, vtep: $0.nodeAddress))
            }
        for (networkID, peer) in remote where self.networks[networkID] != nil {
            self.networks[networkID]?.peers.append(peer)
        }
        for id in self.networks.keys { self.networks[id]?.peers.sort() }
    }

    /// Tasks whose network plumbing should exist: the ones to run and the ones still alive.
    public func tasksNeedingNetwork(liveTasks: Set<String>) -> [DesiredTask] {
        tasks.values.filter { $0.run || liveTasks.contains($0.id) }
    }
}
