import Glibc
import Netlink
import ShoalModel

/// The mesh on a real node: per network namespace an rtnetlink client (br0's MAC and addresses),
/// an IPVS client (services and destinations, runs of requests pipelined) and `nft` run inside
/// the namespace through `nsenter`.
public actor NetlinkMeshKernel: MeshKernel {
    let files: NamespaceFiles
    private var routes: [String: RouteClient] = [:]
    private var ipvs: [String: IPVSClient] = [:]
    private var counts = MeshCounts()
    private var host: RouteClient?

    public init(files: NamespaceFiles) { self.files = files }

    /// True when this kernel has IPVS (the mesh is off without it, and says so).
    public static func available() async -> Bool {
        (try? await IPVSClient.open()) != nil
    }

    func path(_ network: String) -> String { files.path(KernelNames.networkNamespace(network)) }

    func route(_ network: String) async throws(DataPlaneError) -> RouteClient {
        if let client = routes[network] { return client }
        let namespace = NetworkNamespace.path(path(network))
        let client = try await call("open rtnetlink in \(namespace)") { () async throws(NetlinkError) in
            try await RouteClient.open(namespace)
        }
        routes[network] = client
        return client
    }

    func ipvsClient(_ network: String) async throws(DataPlaneError) -> IPVSClient {
        if let client = ipvs[network] { return client }
        let namespace = NetworkNamespace.path(path(network))
        let client = try await call("open ipvs in \(namespace)") { () async throws(NetlinkError) in
            try await IPVSClient.open(namespace)
        }
        ipvs[network] = client
        return client
    }

    public func retain(networks: Set<String>) {
        routes = routes.filter { networks.contains($0.key) }
        ipvs = ipvs.filter { networks.contains($0.key) }
    }

    public func takeCounts() -> MeshCounts {
        defer { counts = MeshCounts() }
        return counts
    }

    public func dump(networks: [String]) async throws(DataPlaneError) -> ObservedMesh {
        var mesh = ObservedMesh()
        for network in networks where files.isMounted(KernelNames.networkNamespace(network)) {
            mesh.balancers[network] = try await dumpBalancer(network)
        }
        mesh.hostRulesDigest = MeshRules.readDigest(
            try? runTool(HostRules.listCommand, what: "read back \(MeshNames.hostTable)"),
            prefix: "shoal-ingress-")
        return mesh
    }

    func dumpBalancer(_ network: String) async throws(DataPlaneError) -> ObservedBalancer {
        var balancer = ObservedBalancer()
        let route = try await route(network)
        let bridge = try await call("find br0 of \(network)") { () async throws(NetlinkError) in
            try await route.link(named: KernelNames.bridge)
        }
        balancer.mac = bridge?.mac.flatMap { MACAddress(bytes: $0.bytes) }
        if bridge != nil {
            let addresses = try await call("list addresses of br0 on \(network)") {
                () async throws(NetlinkError) in try await route.addresses(device: KernelNames.bridge)
            }
            for address in addresses {
                if let v4 = IPv4Address(netlink: address.address) {
                    balancer.addresses[v4] = Int(address.prefixLength)
                }
            }
        }
        let leg = try await call("find gw0 of \(network)") { () async throws(NetlinkError) in
            try await route.link(named: MeshNames.ingressInterface)
        }
        if let leg, leg.isUp {
            let addresses = try await call("list addresses of gw0 on \(network)") {
                () async throws(NetlinkError) in try await route.addresses(device: MeshNames.ingressInterface)
            }
            balancer.ingress = addresses.lazy.compactMap { IPv4Address(netlink: $0.address) }.first
        }
        let namespace = NetworkNamespace.path(path(network))
        var sysctls = true
        for (key, value) in MeshNames.sysctls {
            let current = try? await namespace.sysctl(key)
            if current != value { sysctls = false }
        }
        balancer.sysctls = sysctls
        balancer.rulesDigest = MeshRules.readDigest(
            try? runTool(nsenter(network) + MeshRules.listCommand, what: "read back \(MeshNames.table)"))
        let client = try await ipvsClient(network)
        let services = try await call("list ipvs services on \(network)") { () async throws(NetlinkError) in
            try await client.state()
        }
        for entry in services {
            guard case .firewallMark(let mark, _) = entry.service.key else { continue }
            var service = ObservedMeshService(scheduler: entry.service.scheduler)
            for destination in entry.destinations {
                guard let address = IPv4Address(netlink: destination.address) else { continue }
                service.destinations[address] = ObservedDestination(
                    weight: destination.weight, active: destination.activeConnections, port: destination.port)
            }
            balancer.services[mark] = service
        }
        return balancer
    }

    public func activeConnections(_ key: MeshDestinationKey) async throws(DataPlaneError) -> UInt32? {
        let client = try await ipvsClient(key.network)
        do {
            let destinations = try await client.destinations(of: .firewallMark(key.mark))
            counts.netlinkRequests += 1
            return destinations.first { IPv4Address(netlink: $0.address) == key.address }?.activeConnections
        } catch {
            if error.isNotFound { return nil }
            throw DataPlaneError("list destinations of \(key)", reason: error.description)
        }
    }

    /// Runs of IPVS ops, and of VIP addresses, on one namespace go down its socket pipelined (many
    /// requests in flight, each answer matched to its op); the rest one at a time, in order.
    public func apply(batch ops: [MeshOp]) async -> [DataPlaneError?] {
        var results: [DataPlaneError?] = Array(repeating: nil, count: ops.count)
        var index = 0
        while index < ops.count {
            let op = ops[index]
            if op.isIPVS || op.isVIP {
                var end = index
                while end < ops.count && ops[end].isIPVS == op.isIPVS && ops[end].isVIP == op.isVIP
                    && ops[end].network == op.network
                {
                    end += 1
                }
                let run = Array(ops[index..<end])
                let errors = op.isIPVS ? await applyIPVS(run) : await addVIPs(run)
                for (offset, error) in errors.enumerated() { results[index + offset] = error }
                index = end
                continue
            }
            do {
                try await applyOne(op)
            } catch {
                results[index] = error
            }
            index += 1
        }
        return results
    }

    func applyIPVS(_ ops: [MeshOp]) async -> [DataPlaneError?] {
        guard let network = ops.first?.network else { return [] }
        let requests = ops.compactMap(Self.request)
        let client: IPVSClient
        do {
            client = try await ipvsClient(network)
        } catch {
            return ops.map { _ in error }
        }
        counts.netlinkRequests += requests.count
        let errors: [NetlinkError?]
        do {
            errors = try await client.apply(batch: requests)
        } catch {
            return ops.map { DataPlaneError($0.description, reason: error.description) }
        }
        var results: [DataPlaneError?] = []
        for (op, error) in zip(ops, errors) {
            if let failed = Self.outcome(op, error) {
                results.append(failed)
            } else if case .deleteDestination(let key) = op {
                results.append(await dropUDPFlows(key))
            } else {
                results.append(nil)
            }
        }
        return results
    }

    /// What the kernel's answer to one op means: nil when it is done. A delete of what is gone
    /// already is done; any other error fails this op alone, with its errno.
    static func outcome(_ op: MeshOp, _ error: NetlinkError?) -> DataPlaneError? {
        guard let error else { return nil }
        if case .errno(let code) = error.code, tolerated(op, errno: code) { return nil }
        return failure(op.description, error)
    }

    /// Errors that mean the op's goal holds already: a delete of what is gone, a VIP that is there.
    static func tolerated(_ op: MeshOp, errno code: Int32) -> Bool {
        switch op {
        // A missing destination answers ENOENT, a missing service ESRCH, an address EADDRNOTAVAIL.
        case .deleteDestination, .deleteService, .deleteAddress:
            [ENOENT, ENODEV, ESRCH, EADDRNOTAVAIL].contains(code)
        case .addVIP: code == EEXIST
        default: false
        }
    }

    /// A run of VIPs for one namespace's `br0`, pipelined.
    func addVIPs(_ ops: [MeshOp]) async -> [DataPlaneError?] {
        let addresses = ops.compactMap { op -> Netlink.Address? in
            guard case .addVIP(_, let vip) = op else { return nil }
            return Netlink.Address(device: KernelNames.bridge, address: IPAddress(vip), prefixLength: 32)
        }
        guard let network = ops.first?.network, addresses.count == ops.count else {
            return ops.map { DataPlaneError($0.description, reason: "not a VIP") }
        }
        let errors: [NetlinkError?]
        do {
            let route = try await route(network)
            counts.netlinkRequests += addresses.count
            errors = try await call("add vips on \(network)") { () async throws(NetlinkError) in
                try await route.addAddresses(addresses)
            }
        } catch {
            return ops.map { _ in error }
        }
        return zip(ops, errors).map { Self.outcome($0, $1) }
    }

    /// UDP has no connection to drain: delete the flows' conntrack entries so the next datagram
    /// is scheduled afresh, to a live task.
    func dropUDPFlows(_ key: MeshDestinationKey) async -> DataPlaneError? {
        let filter = ConntrackFilter(protocolNumber: 17, replySource: IPAddress(key.address))
        do {
            try await Conntrack.delete(matching: filter, in: .path(path(key.network)))
            return nil
        } catch {
            return Self.failure("delete udp conntrack entries of \(key)", error)
        }
    }

    static func request(_ op: MeshOp) -> IPVSRequest? {
        switch op {
        case .addService(_, let mark, let scheduler):
            .addService(VirtualService(key: .firewallMark(mark), scheduler: scheduler))
        case .updateService(_, let mark, let scheduler):
            .updateService(VirtualService(key: .firewallMark(mark), scheduler: scheduler))
        case .deleteService(_, let mark): .deleteService(.firewallMark(mark))
        case .addDestination(let key, let weight):
            .addDestination(.firewallMark(key.mark), destination(key, weight))
        case .updateDestination(let key, let weight):
            .updateDestination(.firewallMark(key.mark), destination(key, weight))
        case .deleteDestination(let key):
            .deleteDestination(.firewallMark(key.mark), IPAddress(key.address), port: key.port)
        default: nil
        }
    }

    /// Port 0 (a VIP): a firewall-mark service forwards to the port the client asked for; a
    /// published port's destinations name the target port.
    static func destination(_ key: MeshDestinationKey, _ weight: UInt32) -> Destination {
        Destination(address: IPAddress(key.address), port: key.port, forwarding: .masquerade, weight: weight)
    }

    func applyOne(_ op: MeshOp) async throws(DataPlaneError) {
        switch op {
        case .setUp(let network, let address, let prefix, let mac):
            let route = try await route(network)
            let change = LinkChange(up: true, mac: try linkLayer(mac))
            try await call("set br0 of \(network) to \(mac)") { () async throws(NetlinkError) in
                try await route.changeLink(KernelNames.bridge, change)
            }
            try await addAddress(network, address, prefix)
            let namespace = NetworkNamespace.path(path(network))
            for (key, value) in MeshNames.sysctls {
                try await call("set \(key)=\(value) on \(network)") { () async throws(NetlinkError) in
                    try await namespace.setSysctl(key, to: value)
                }
            }
            counts.netlinkRequests += 2
        case .attachIngress(let network, let link):
            try await attachIngress(network, link)
            counts.netlinkRequests += 5
        case .writeHostRules(let ports):
            counts.nftTransactions += 1
            try runTool(
                ["nft", "-f", "-"], what: "write \(MeshNames.hostTable)", input: HostRules.transaction(ports))
        case .deleteAddress(let network, let address, let prefix):
            let route = try await route(network)
            let value = Netlink.Address(
                device: KernelNames.bridge, address: IPAddress(address), prefixLength: UInt8(prefix))
            counts.netlinkRequests += 1
            do {
                try await route.deleteAddress(value)
            } catch {
                if !error.isNotFound { throw Self.failure(op.description, error) }
            }
        case .writeRules(let network, let balancer):
            counts.nftTransactions += 1
            try runTool(
                nsenter(network) + ["nft", "-f", "-"], what: "write \(MeshNames.table) on \(network)",
                input: MeshRules.transaction(balancer))
        default:
            break
        }
    }

    /// (Re)makes the ingress namespace's veth on the node's gateway bridge, as a task's `gw0`.
    func attachIngress(_ network: String, _ link: IngressLink) async throws(DataPlaneError) {
        let inside = try await route(network)
        let host = try await hostRoute()
        let port = MeshNames.ingressPort
        for (client, name) in [(host, port), (inside, MeshNames.ingressInterface)] {
            do {
                try await client.deleteLink(name)
            } catch {
                if !error.isNotFound { throw Self.failure("delete \(name)", error) }
            }
        }
        let spec = LinkSpec(
            name: port, kind: .veth(peer: MeshNames.ingressInterface, peerNamespace: .path(path(network))),
            master: KernelNames.egressBridge, up: true)
        try await call("create veth \(port) for \(network)") { () async throws(NetlinkError) in
            try await host.createLink(spec)
        }
        let address = Netlink.Address(
            device: MeshNames.ingressInterface, address: IPAddress(link.address),
            prefixLength: UInt8(link.prefixLength))
        let route = Route(
            destination: .v4(0, 0, 0, 0), prefixLength: 0, gateway: IPAddress(link.gateway),
            device: MeshNames.ingressInterface)
        try await call("configure gw0 of \(network)") { () async throws(NetlinkError) in
            try await inside.addAddress(address)
            try await inside.changeLink(MeshNames.ingressInterface, LinkChange(up: true))
            try await inside.replaceRoute(route)
        }
    }

    func hostRoute() async throws(DataPlaneError) -> RouteClient {
        if let host { return host }
        let client = try await call("open rtnetlink") { () async throws(NetlinkError) in
            try await RouteClient.open()
        }
        host = client
        return client
    }

    func addAddress(_ network: String, _ address: IPv4Address, _ prefix: Int) async throws(DataPlaneError) {
        let route = try await route(network)
        let value = Netlink.Address(
            device: KernelNames.bridge, address: IPAddress(address), prefixLength: UInt8(prefix))
        do {
            try await route.addAddress(value)
        } catch {
            if !error.isAlreadyExists { throw Self.failure("add \(address)/\(prefix) on \(network)", error) }
        }
    }

    func nsenter(_ network: String) -> [String] { ["nsenter", "--net=" + path(network)] }

    func call<T: Sendable>(_ what: String, _ body: () async throws(NetlinkError) -> T)
        async throws(DataPlaneError) -> T
    {
        do {
            return try await body()
        } catch {
            throw Self.failure(what, error)
        }
    }

    static func failure(_ what: String, _ error: NetlinkError) -> DataPlaneError {
        if case .errno(let code) = error.code {
            return DataPlaneError(what, errno: code, reason: error.description)
        }
        return DataPlaneError(what, reason: error.description)
    }
}
