import ShoalModel

/// Node-wide overlay settings.
public struct OverlayConfig: Equatable, Codable, Sendable {
    /// The node's underlay address: local end of every vxlan tunnel.
    public var local: IPv4Address
    public var port: UInt16
    /// Task egress: the gateway bridge's subnet; its first address is every task's default gateway.
    public var egressSubnet: CIDR

    public init(
        local: IPv4Address, port: UInt16 = 4789, egressSubnet: CIDR = OverlayConfig.defaultEgressSubnet
    ) {
        self.local = local
        self.port = port
        self.egressSubnet = egressSubnet
    }

    public static let defaultEgressSubnet = CIDR(network: IPv4Address(0xac1f_0000), clampedPrefix: 16)

    public var egressGateway: IPv4Address { IPv4Address(egressSubnet.network.value + 1) }
}

/// One kernel change. Applying ops in `plan` order never refers to an object not yet made.
public enum OverlayOp: Equatable, Sendable, CustomStringConvertible {
    /// Makes what is missing of the namespace, br0 and vx0; `recreateVXLAN` first deletes a vx0
    /// whose settings differ (learning on, wrong VNI, port, local address or MTU).
    case ensureNetwork(DesiredNetwork, recreateVXLAN: Bool)
    case deleteNetwork(String)
    case replaceNeighbour(network: String, peer: Peer)
    case replaceFDB(network: String, peer: Peer)
    case deleteNeighbour(network: String, address: String)
    case deleteFDB(network: String, mac: String)
    case createTaskNamespace(String)
    /// (Re)makes the veth pair: `eth<index>` in the task, the host end a port of br0.
    case attach(task: String, TaskAttachment)
    case deleteTaskNamespace(String)
    /// The node's gateway bridge with its address, forwarding, and the masquerade table (one
    /// `nft -f -` transaction).
    case ensureEgress
    /// (Re)makes the task's `gw0` veth on the gateway bridge, its address and default route.
    case attachEgress(task: String, address: IPv4Address)

    public var description: String {
        switch self {
        case .ensureNetwork(let network, let recreate):
            "ensure network \(network.id) vni \(network.vni)" + (recreate ? " (recreate vx0)" : "")
        case .deleteNetwork(let id): "delete network \(id)"
        case .replaceNeighbour(let network, let peer):
            "neighbour \(peer.address) -> \(peer.mac) on \(network)"
        case .replaceFDB(let network, let peer): "fdb \(peer.mac) -> \(peer.vtep) on \(network)"
        case .deleteNeighbour(let network, let address): "delete neighbour \(address) on \(network)"
        case .deleteFDB(let network, let mac): "delete fdb \(mac) on \(network)"
        case .createTaskNamespace(let id): "create task namespace \(id)"
        case .attach(let task, let attachment):
            "attach task \(task) eth\(attachment.index) \(attachment.address)/\(attachment.prefixLength) to \(attachment.networkID)"
        case .deleteTaskNamespace(let id): "delete task namespace \(id)"
        case .ensureEgress: "ensure the egress bridge and masquerade"
        case .attachEgress(let task, let address): "attach task \(task) gw0 \(address) for egress"
        }
    }
}

/// The overlay reconciler's pure half: what to change so the kernel matches the desired state.
public enum OverlayPlanner {
    /// `tasks` are the local tasks whose plumbing should exist; networks come from `desired`.
    /// `keep` names tasks whose process still lives though the view dropped them: their namespace,
    /// and the networks their veths are on, stay until the process is gone.
    public static func plan(
        desired: DesiredNode, tasks: [DesiredTask], observed: ObservedNode, config: OverlayConfig,
        keep: Set<String> = []
    ) -> [OverlayOp] {
        var ops: [OverlayOp] = []
        var removals: [OverlayOp] = []
        for network in desired.networks.values.sorted(by: { $0.id < $1.id }) {
            let current = observed.networks[network.id]
            let vxlanRight = current?.vxlan.map { vxlanMatches($0, network, config) } ?? false
            if current == nil || current?.bridgeIndex == nil || !vxlanRight {
                ops.append(.ensureNetwork(network, recreateVXLAN: current?.vxlan != nil && !vxlanRight))
            }
            // A recreated vx0 starts with empty tables.
            let fdb = vxlanRight ? current?.fdb ?? [:] : [:]
            let neighbours = vxlanRight ? current?.neighbours ?? [:] : [:]
            var wantedMACs = Set<String>()
            var wantedAddresses = Set<String>()
            for peer in network.peers {
                wantedMACs.insert(peer.mac.description)
                wantedAddresses.insert(peer.address.description)
                // Neighbour before FDB (flannel's order): a packet never finds a MAC without a VTEP.
                if neighbours[peer.address.description] != peer.mac.description {
                    ops.append(.replaceNeighbour(network: network.id, peer: peer))
                }
                if fdb[peer.mac.description] != peer.vtep.description {
                    ops.append(.replaceFDB(network: network.id, peer: peer))
                }
            }
            for mac in fdb.keys.sorted() where !wantedMACs.contains(mac) {
                removals.append(.deleteFDB(network: network.id, mac: mac))
            }
            for address in neighbours.keys.sorted() where !wantedAddresses.contains(address) {
                removals.append(.deleteNeighbour(network: network.id, address: address))
            }
        }
        let wantedTasks = Set(tasks.map(\.id))
        // The ingress namespace's leg is on the gateway bridge too (docs/mesh.md).
        let needsBridge =
            tasks.contains(where: \.egress) || desired.networks.values.contains(where: \.ingress)
        if needsBridge && !observed.egressReady { ops.append(.ensureEgress) }
        var egressInUse = Set(observed.tasks.values.compactMap { $0.egress?.address })
        egressInUse.insert(config.egressGateway)
        egressInUse.insert(MeshNames.ingressAddress(config.egressSubnet))
        for task in tasks.sorted(by: { $0.id < $1.id }) {
            let current = observed.tasks[task.id]
            if current == nil { ops.append(.createTaskNamespace(task.id)) }
            for attachment in task.attachments where desired.networks[attachment.networkID] != nil {
                let port = observed.networks[attachment.networkID]?.ports[KernelNames.hostPort(task: task.id)]
                let side = current?.attachments[attachment.index]
                if port == nil || side.map({ !attachmentMatches($0, attachment) }) ?? true {
                    ops.append(.attach(task: task.id, attachment))
                }
            }
            let egress = current?.egress
            if task.egress,
                egress?.up != true || egress?.address.map({ !config.egressSubnet.contains($0) }) ?? true
            {
                let address = egress?.address.flatMap { config.egressSubnet.contains($0) ? $0 : nil }
                if let next = address ?? freeEgressAddress(config.egressSubnet, inUse: egressInUse) {
                    egressInUse.insert(next)
                    ops.append(.attachEgress(task: task.id, address: next))
                }
            }
        }
        for id in observed.tasks.keys.sorted() where !wantedTasks.contains(id) && !keep.contains(id) {
            removals.append(.deleteTaskNamespace(id))
        }
        let keptPorts = Set(keep.map(KernelNames.hostPort))
        for (id, network) in observed.networks.sorted(by: { $0.key < $1.key })
        where desired.networks[id] == nil {
            if network.ports.keys.contains(where: keptPorts.contains) { continue }
            removals.append(.deleteNetwork(id))
        }
        return ops + removals
    }

    /// The lowest address of the egress subnet no task holds (the agent allocates these itself:
    /// they never leave the node).
    static func freeEgressAddress(_ subnet: CIDR, inUse: Set<IPv4Address>) -> IPv4Address? {
        var candidate = subnet.network.value + 1
        while candidate < subnet.broadcast.value {
            if !inUse.contains(IPv4Address(candidate)) { return IPv4Address(candidate) }
            candidate += 1
        }
        return nil
    }

    static func vxlanMatches(_ device: VXLANDevice, _ network: DesiredNetwork, _ config: OverlayConfig)
        -> Bool
    {
        device.vni == network.vni && device.port == config.port && device.local == config.local
            && device.mtu == network.mtu && !device.learning && device.attached
    }

    static func attachmentMatches(_ side: ObservedAttachment, _ attachment: TaskAttachment) -> Bool {
        side.address == attachment.address && side.prefixLength == attachment.prefixLength
            && side.mac == attachment.mac && side.mtu == attachment.mtu && side.up
    }
}

extension ObservedNode {
    /// What the kernel holds after `op` succeeded: the applied mirror between dumps, and the
    /// whole of the fake kernel. Interface indexes are invented (`nextIndex`).
    public mutating func record(_ op: OverlayOp, config: OverlayConfig, nextIndex: inout Int32) {
        func index() -> Int32 {
            nextIndex += 1
            return nextIndex
        }
        switch op {
        case .ensureNetwork(let network, let recreate):
            var current = networks[network.id] ?? ObservedNetwork(id: network.id)
            if current.bridgeIndex == nil { current.bridgeIndex = index() }
            if recreate || current.vxlan == nil {
                current.vxlan = VXLANDevice(
                    vni: network.vni, port: config.port, local: config.local, mtu: network.mtu,
                    learning: false,
                    attached: true, index: index())
                current.fdb = [:]
                current.neighbours = [:]
            }
            networks[network.id] = current
        case .deleteNetwork(let id):
            networks[id] = nil
        case .replaceNeighbour(let network, let peer):
            networks[network]?.neighbours[peer.address.description] = peer.mac.description
        case .replaceFDB(let network, let peer):
            networks[network]?.fdb[peer.mac.description] = peer.vtep.description
        case .deleteNeighbour(let network, let address):
            networks[network]?.neighbours[address] = nil
        case .deleteFDB(let network, let mac):
            networks[network]?.fdb[mac] = nil
        case .createTaskNamespace(let id):
            if tasks[id] == nil { tasks[id] = ObservedTask(id: id) }
        case .attach(let task, let attachment):
            networks[attachment.networkID]?.ports[KernelNames.hostPort(task: task)] = index()
            tasks[task]?.attachments[attachment.index] = ObservedAttachment(
                address: attachment.address, prefixLength: attachment.prefixLength, mac: attachment.mac,
                mtu: attachment.mtu, up: true, index: index())
        case .ensureEgress:
            egressReady = true
        case .attachEgress(let task, let address):
            tasks[task]?.egress = ObservedAttachment(
                address: address, prefixLength: config.egressSubnet.prefixLength, mac: nil, mtu: 1500,
                up: true,
                index: index())
        case .deleteTaskNamespace(let id):
            // The veth pairs go with the namespace, host ends included.
            let port = KernelNames.hostPort(task: id)
            for network in networks.keys { networks[network]?.ports[port] = nil }
            tasks[id] = nil
        }
    }
}
