import Netlink
import ShoalModel

/// The overlay kernel on a real node, through the Netlink module: one rtnetlink client per
/// namespace (kept open while the namespace lives), namespaces as files under the run directory.
public actor NetlinkOverlayKernel: OverlayKernel {
    let files: NamespaceFiles
    let config: OverlayConfig
    private var clients: [String: RouteClient] = [:]
    private var host: RouteClient?
    private var watchers: [String: Task<Void, Never>] = [:]
    private var driftHandler: (@Sendable (DriftEvent) async -> Void)?

    public init(files: NamespaceFiles, config: OverlayConfig) {
        self.files = files
        self.config = config
    }

    func client(_ name: String?) async throws(DataPlaneError) -> RouteClient {
        guard let name else {
            if let host { return host }
            let opened = try await netlink("open rtnetlink") { () async throws(NetlinkError) in
                try await RouteClient.open()
            }
            host = opened
            return opened
        }
        if let client = clients[name] { return client }
        let path = files.path(name)
        let opened = try await netlink("open rtnetlink in \(path)") { () async throws(NetlinkError) in
            try await RouteClient.open(.path(path))
        }
        clients[name] = opened
        if name.hasPrefix("net-") { await subscribe(name) }
        return opened
    }

    public func watch(_ handler: @escaping @Sendable (DriftEvent) async -> Void) async {
        driftHandler = handler
        for name in clients.keys where name.hasPrefix("net-") { await subscribe(name) }
    }

    /// Listens for removals in a network namespace (fdb, neighbour, link) and reports them.
    func subscribe(_ name: String) async {
        guard let handler = driftHandler, watchers[name] == nil else { return }
        guard let events = try? await RouteEvents.subscribe(.path(files.path(name))) else { return }
        let network = String(name.dropFirst(4))
        watchers[name] = Task {
            for await event in events {
                switch event {
                case .fdb(let entry, removed: true) where entry.device == KernelNames.vxlan:
                    if let mac = MACAddress(bytes: entry.mac.bytes) {
                        await handler(.fdbRemoved(network: network, mac: mac.description))
                    }
                case .neighbour(let entry, removed: true) where entry.device == KernelNames.vxlan:
                    if let address = IPv4Address(netlink: entry.address) {
                        await handler(.neighbourRemoved(network: network, address: address.description))
                    }
                case .link(let link, removed: true):
                    await handler(.linkRemoved(network: network, name: link.name))
                case .resync:
                    await handler(.overflow)
                default:
                    break
                }
            }
        }
    }

    public func dump() async throws(DataPlaneError) -> ObservedNode {
        var node = ObservedNode()
        node.egressReady = try await egressReady()
        for name in files.list() {
            guard files.isMounted(name) else {
                try files.delete(name)  // an empty file left by a crash between create and bind
                continue
            }
            if name.hasPrefix("net-") {
                let id = String(name.dropFirst(4))
                node.networks[id] = try await dumpNetwork(id)
            } else if name.hasPrefix("task-") {
                let id = String(name.dropFirst(5))
                node.tasks[id] = try await dumpTask(id)
            }
        }
        return node
    }

    func dumpNetwork(_ id: String) async throws(DataPlaneError) -> ObservedNetwork {
        let client = try await client(KernelNames.networkNamespace(id))
        var network = ObservedNetwork(id: id)
        let links = try await netlink("list links of network \(id)") { () async throws(NetlinkError) in
            try await client.links()
        }
        let bridge = links.first { $0.name == KernelNames.bridge && $0.kind == "bridge" && $0.isUp }
        network.bridgeIndex = bridge?.index
        if let link = links.first(where: { $0.name == KernelNames.vxlan }), let options = link.vxlan {
            network.vxlan = VXLANDevice(
                vni: options.vni, port: options.port,
                local: options.local.flatMap(IPv4Address.init(netlink:)),
                mtu: Int(link.mtu), learning: options.learning,
                attached: link.isUp && bridge != nil && link.masterIndex == bridge?.index, index: link.index)
            let fdb = try await netlink("list fdb of network \(id)") { () async throws(NetlinkError) in
                try await client.fdbEntries(device: KernelNames.vxlan)
            }
            for entry in fdb where entry.isPermanent {
                guard let destination = entry.destination.flatMap(IPv4Address.init(netlink:)),
                    let mac = MACAddress(bytes: entry.mac.bytes)
                else { continue }
                network.fdb[mac.description] = destination.description
            }
            let neighbours = try await netlink("list neighbours of network \(id)") {
                () async throws(NetlinkError) in
                try await client.neighbours(device: KernelNames.vxlan)
            }
            for entry in neighbours where entry.isPermanent {
                guard let address = IPv4Address(netlink: entry.address),
                    let mac = entry.mac.flatMap({ MACAddress(bytes: $0.bytes) })
                else { continue }
                network.neighbours[address.description] = mac.description
            }
        }
        for link in links where link.name.hasPrefix("vt") && link.isUp && bridge != nil {
            if link.masterIndex == bridge?.index { network.ports[link.name] = link.index }
        }
        return network
    }

    func dumpTask(_ id: String) async throws(DataPlaneError) -> ObservedTask {
        let client = try await client(KernelNames.taskNamespace(id))
        var task = ObservedTask(id: id)
        let links = try await netlink("list links of task \(id)") { () async throws(NetlinkError) in
            try await client.links()
        }
        let addresses = try await netlink("list addresses of task \(id)") { () async throws(NetlinkError) in
            try await client.addresses()
        }
        if let link = links.first(where: { $0.name == KernelNames.egressInterface }) {
            let address = addresses.first { $0.device == link.name && $0.address.isIPv4 }
            task.egress = ObservedAttachment(
                address: address.flatMap { IPv4Address(netlink: $0.address) },
                prefixLength: address.map { Int($0.prefixLength) }, mac: nil, mtu: Int(link.mtu),
                up: link.isUp,
                index: link.index)
        }
        for link in links where link.name.hasPrefix("eth") {
            guard let number = Int(link.name.dropFirst(3)) else { continue }
            let address = addresses.first { $0.device == link.name && $0.address.isIPv4 }
            task.attachments[number] = ObservedAttachment(
                address: address.flatMap { IPv4Address(netlink: $0.address) },
                prefixLength: address.map { Int($0.prefixLength) },
                mac: link.mac.flatMap { MACAddress(bytes: $0.bytes) }, mtu: Int(link.mtu), up: link.isUp,
                index: link.index)
        }
        return task
    }

    public func apply(_ op: OverlayOp) async throws(DataPlaneError) {
        switch op {
        case .ensureNetwork(let network, let recreate):
            try await ensureNetwork(network, recreateVXLAN: recreate)
        case .deleteNetwork(let id):
            try dropNamespace(KernelNames.networkNamespace(id))
        case .replaceNeighbour(let id, let peer):
            let client = try await client(KernelNames.networkNamespace(id))
            let neighbour = Neighbour(
                device: KernelNames.vxlan, address: IPAddress(peer.address), mac: try linkLayer(peer.mac))
            try await netlink(op.description) { () async throws(NetlinkError) in
                try await client.replaceNeighbour(neighbour)
            }
        case .replaceFDB(let id, let peer):
            let client = try await client(KernelNames.networkNamespace(id))
            let entry = FDBEntry(
                device: KernelNames.vxlan, mac: try linkLayer(peer.mac), destination: IPAddress(peer.vtep))
            try await netlink(op.description) { () async throws(NetlinkError) in
                try await client.replaceFDBEntry(entry)
            }
        case .deleteNeighbour(let id, let address):
            guard let ip = IPAddress(address) else { return }
            let client = try await client(KernelNames.networkNamespace(id))
            let neighbour = Neighbour(device: KernelNames.vxlan, address: ip, mac: nil)
            try await ignoringNotFound(op.description) { () async throws(NetlinkError) in
                try await client.deleteNeighbour(neighbour)
            }
        case .deleteFDB(let id, let mac):
            guard let lladdr = LinkLayerAddress(mac) else { return }
            let client = try await client(KernelNames.networkNamespace(id))
            let entry = FDBEntry(device: KernelNames.vxlan, mac: lladdr, destination: nil)
            try await ignoringNotFound(op.description) { () async throws(NetlinkError) in
                try await client.deleteFDBEntry(entry)
            }
        case .createTaskNamespace(let id):
            try await files.create(KernelNames.taskNamespace(id))
            let client = try await client(KernelNames.taskNamespace(id))
            try await netlink("bring up lo of task \(id)") { () async throws(NetlinkError) in
                try await client.changeLink("lo", LinkChange(up: true))
            }
        case .attach(let task, let attachment):
            try await attach(task: task, attachment)
        case .deleteTaskNamespace(let id):
            try dropNamespace(KernelNames.taskNamespace(id))
        case .ensureEgress:
            try await ensureEgress()
        case .attachEgress(let task, let address):
            try await attachEgress(task: task, address: address)
        }
    }

    /// Runs of peer entries on one network go out pipelined (all neighbours, then all FDB entries,
    /// so no FDB entry precedes its neighbour); everything else one op at a time.
    public func apply(batch ops: [OverlayOp]) async -> [DataPlaneError?] {
        var results = [DataPlaneError?](repeating: nil, count: ops.count)
        var start = 0
        while start < ops.count {
            guard let network = Self.peerNetwork(ops[start]) else {
                do {
                    try await apply(ops[start])
                } catch {
                    results[start] = error
                }
                start += 1
                continue
            }
            var end = start
            while end < ops.count, Self.peerNetwork(ops[end]) == network { end += 1 }
            do {
                try await replacePeers(ops, start..<end, network: network, results: &results)
            } catch {
                for index in start..<end { results[index] = error }
            }
            start = end
        }
        return results
    }

    static func peerNetwork(_ op: OverlayOp) -> String? {
        switch op {
        case .replaceNeighbour(let network, _), .replaceFDB(let network, _): network
        default: nil
        }
    }

    func replacePeers(
        _ ops: [OverlayOp], _ range: Range<Int>, network: String, results: inout [DataPlaneError?]
    ) async throws(DataPlaneError) {
        let client = try await client(KernelNames.networkNamespace(network))
        var neighbours: [(Int, Neighbour)] = []
        var entries: [(Int, FDBEntry)] = []
        for index in range {
            switch ops[index] {
            case .replaceNeighbour(_, let peer):
                neighbours.append(
                    (
                        index,
                        Neighbour(
                            device: KernelNames.vxlan, address: IPAddress(peer.address),
                            mac: try linkLayer(peer.mac))
                    ))
            case .replaceFDB(_, let peer):
                entries.append(
                    (
                        index,
                        FDBEntry(
                            device: KernelNames.vxlan, mac: try linkLayer(peer.mac),
                            destination: IPAddress(peer.vtep))
                    ))
            default:
                break
            }
        }
        let neighbourList = neighbours.map(\.1)
        let neighbourErrors = try await netlink("replace \(neighbourList.count) neighbours on \(network)") {
            () async throws(NetlinkError) in try await client.replaceNeighbours(neighbourList)
        }
        for ((index, _), error) in zip(neighbours, neighbourErrors) {
            if let error {
                results[index] = DataPlaneError(ops[index].description, reason: error.description)
            }
        }
        let entryList = entries.map(\.1)
        let entryErrors = try await netlink("replace \(entryList.count) fdb entries on \(network)") {
            () async throws(NetlinkError) in try await client.replaceFDBEntries(entryList)
        }
        for ((index, _), error) in zip(entries, entryErrors) {
            if let error {
                results[index] = DataPlaneError(ops[index].description, reason: error.description)
            }
        }
    }

    func ensureNetwork(_ network: DesiredNetwork, recreateVXLAN: Bool) async throws(DataPlaneError) {
        let name = KernelNames.networkNamespace(network.id)
        try await files.create(name)
        let client = try await client(name)
        let links = try await netlink("list links of network \(network.id)") {
            () async throws(NetlinkError) in
            try await client.links()
        }
        if links.first(where: { $0.name == KernelNames.bridge }) == nil {
            let spec = LinkSpec(name: KernelNames.bridge, kind: .bridge, up: true)
            try await netlink("create br0 of network \(network.id)") { () async throws(NetlinkError) in
                try await client.createLink(spec)
            }
        } else {
            try await netlink("bring up br0 of network \(network.id)") { () async throws(NetlinkError) in
                try await client.changeLink(KernelNames.bridge, LinkChange(up: true))
            }
        }
        var haveVXLAN = links.contains { $0.name == KernelNames.vxlan }
        if haveVXLAN && recreateVXLAN {
            try await ignoringNotFound("delete vx0 of network \(network.id)") {
                () async throws(NetlinkError) in
                try await client.deleteLink(KernelNames.vxlan)
            }
            haveVXLAN = false
        }
        if !haveVXLAN {
            // Made from the host namespace so its UDP socket stays there, and placed in the
            // network's namespace by the same request. Proxy: vx0 answers ARP from its static
            // neighbour table, so nothing is flooded.
            let options = VXLANOptions(
                vni: network.vni, port: config.port, local: IPAddress(config.local), learning: false,
                proxy: true)
            let spec = LinkSpec(
                name: KernelNames.vxlan, kind: .vxlan(options), mtu: UInt32(network.mtu),
                namespace: .path(files.path(name)))
            let hostClient = try await self.client(nil)
            try await netlink("create vx0 of network \(network.id)") { () async throws(NetlinkError) in
                try await hostClient.createLink(spec)
            }
        }
        let change = LinkChange(up: true, mtu: UInt32(network.mtu), master: .attach(KernelNames.bridge))
        try await netlink("attach vx0 of network \(network.id)") { () async throws(NetlinkError) in
            try await client.changeLink(KernelNames.vxlan, change)
        }
    }

    /// The calls for one namespace go to its socket's thread in one hop: on a loaded node each
    /// hop (a thread handoff there and back) costs more than the netlink round trips it carries.
    func attach(task: String, _ attachment: TaskAttachment) async throws(DataPlaneError) {
        let network = try await client(KernelNames.networkNamespace(attachment.networkID))
        let taskClient = try await client(KernelNames.taskNamespace(task))
        let port = KernelNames.hostPort(task: task)
        let inside = KernelNames.taskInterface(attachment.index)
        let spec = LinkSpec(
            name: port,
            kind: .veth(peer: inside, peerNamespace: .path(files.path(KernelNames.taskNamespace(task)))),
            mtu: UInt32(attachment.mtu), master: KernelNames.bridge, up: true)
        let address = Netlink.Address(
            device: inside, address: IPAddress(attachment.address),
            prefixLength: UInt8(attachment.prefixLength))
        let change = LinkChange(mtu: UInt32(attachment.mtu), mac: try linkLayer(attachment.mac))
        try await remakeVeth(spec, inside: inside, task: task, outer: network, taskClient: taskClient)
        try await netlink("configure \(inside) of task \(task)") { () async throws(NetlinkError) in
            try await taskClient.withSocket { s throws(NetlinkError) in
                try s.changeLink(inside, change)
                try s.addAddress(address)
                try s.changeLink(inside, LinkChange(up: true))
            }
        }
    }

    /// Remakes a task's veth pair from scratch (deleting one end deletes both): `spec` is the outer
    /// end, made through `outer`; its peer `inside` lands in the task's namespace.
    func remakeVeth(
        _ spec: LinkSpec, inside: String, task: String, outer: RouteClient, taskClient: RouteClient
    ) async throws(DataPlaneError) {
        try await netlink("delete \(inside) of task \(task)") { () async throws(NetlinkError) in
            try await taskClient.withSocket { s throws(NetlinkError) in try Self.deleteIfPresent(inside, s) }
        }
        try await netlink("create veth \(spec.name) for task \(task)") { () async throws(NetlinkError) in
            try await outer.withSocket { s throws(NetlinkError) in
                try Self.deleteIfPresent(spec.name, s)
                try s.createLink(spec)
            }
        }
    }

    /// Deletes link `name` unless it is gone already.
    static func deleteIfPresent(_ name: String, _ socket: RouteSocket) throws(NetlinkError) {
        do {
            try socket.deleteLink(name)
        } catch {
            guard error.isNotFound else { throw error }
        }
    }

    func egressReady() async throws(DataPlaneError) -> Bool {
        let host = try await client(nil)
        let bridge = try await netlink("find \(KernelNames.egressBridge)") { () async throws(NetlinkError) in
            try await host.link(named: KernelNames.egressBridge)
        }
        guard let bridge, bridge.isUp else { return false }
        let addresses = try await netlink("list addresses of \(KernelNames.egressBridge)") {
            () async throws(NetlinkError) in
            try await host.addresses(device: KernelNames.egressBridge)
        }
        guard addresses.contains(where: { IPv4Address(netlink: $0.address) == config.egressGateway }),
            (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8))?.hasPrefix("1")
                == true
        else { return false }
        return EgressRules.matches(
            try? runTool(EgressRules.listCommand, what: "read back the nft table"), config)
    }

    func ensureEgress() async throws(DataPlaneError) {
        let host = try await client(nil)
        let name = KernelNames.egressBridge
        if try await netlink(
            "find \(name)", { () async throws(NetlinkError) in try await host.link(named: name) }) == nil
        {
            let spec = LinkSpec(name: name, kind: .bridge, up: true)
            try await netlink("create \(name)") { () async throws(NetlinkError) in
                try await host.createLink(spec)
            }
        }
        let address = Netlink.Address(
            device: name, address: IPAddress(config.egressGateway),
            prefixLength: UInt8(config.egressSubnet.prefixLength))
        try await netlink("configure \(name)") { () async throws(NetlinkError) in
            try await host.changeLink(name, LinkChange(up: true))
            do throws(NetlinkError) {
                try await host.addAddress(address)
            } catch {
                guard error.isAlreadyExists else { throw error }
            }
        }
        do {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
        } catch {
            throw DataPlaneError("enable net.ipv4.ip_forward", reason: "\(error)")
        }
        try runTool(
            ["nft", "-f", "-"], what: "write the nft table \(KernelNames.nftTable)",
            input: EgressRules.transaction(config))
    }

    /// As `attach`: one hop per namespace's socket.
    func attachEgress(task: String, address: IPv4Address) async throws(DataPlaneError) {
        let host = try await client(nil)
        let taskClient = try await client(KernelNames.taskNamespace(task))
        let port = KernelNames.egressPort(task: task)
        let inside = KernelNames.egressInterface
        let spec = LinkSpec(
            name: port,
            kind: .veth(peer: inside, peerNamespace: .path(files.path(KernelNames.taskNamespace(task)))),
            master: KernelNames.egressBridge, up: true)
        let gateway = IPAddress(config.egressGateway)
        let cidr = Netlink.Address(
            device: inside, address: IPAddress(address), prefixLength: UInt8(config.egressSubnet.prefixLength)
        )
        let route = Route(destination: .v4(0, 0, 0, 0), prefixLength: 0, gateway: gateway, device: inside)
        try await remakeVeth(spec, inside: inside, task: task, outer: host, taskClient: taskClient)
        try await netlink("configure \(inside) of task \(task)") { () async throws(NetlinkError) in
            try await taskClient.withSocket { s throws(NetlinkError) in
                try s.addAddress(cidr)
                try s.changeLink(inside, LinkChange(up: true))
                try s.replaceRoute(route)
            }
        }
    }

    func dropNamespace(_ name: String) throws(DataPlaneError) {
        clients[name] = nil
        watchers.removeValue(forKey: name)?.cancel()
        try files.delete(name)
    }

    func netlink<T: Sendable>(
        _ what: String, _ body: () async throws(NetlinkError) -> T
    ) async throws(DataPlaneError) -> T {
        do {
            return try await body()
        } catch {
            if case .errno(let code) = error.code {
                throw DataPlaneError(what, errno: code, reason: error.description)
            }
            throw DataPlaneError(what, reason: error.description)
        }
    }

    /// "Not found" on a delete is success: the object is gone either way.
    func ignoringNotFound(_ what: String, _ body: () async throws(NetlinkError) -> Void)
        async throws(DataPlaneError)
    {
        do {
            try await body()
        } catch {
            guard error.isNotFound else { throw DataPlaneError(what, reason: error.description) }
        }
    }
}

extension IPv4Address {
    init?(netlink address: IPAddress) {
        guard case .v4(let a, let b, let c, let d) = address else { return nil }
        self.init(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
    }
}

extension IPAddress {
    init(_ address: IPv4Address) {
        let octets = address.octets
        self = .v4(octets[0], octets[1], octets[2], octets[3])
    }
}

/// A MACAddress always has six bytes; the error is for the type system.
func linkLayer(_ mac: MACAddress) throws(DataPlaneError) -> LinkLayerAddress {
    guard let address = LinkLayerAddress(bytes: mac.bytes) else {
        throw DataPlaneError("convert \(mac)", reason: "not a 6-byte MAC address")
    }
    return address
}
