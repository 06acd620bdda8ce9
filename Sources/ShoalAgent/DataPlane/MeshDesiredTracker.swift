import ShoalModel

/// The desired mesh kept between passes: a full build from the view (at start, after a dump, when
/// a network changes), else only the services, endpoints and tasks whose feed keys changed are
/// rebuilt, so a change costs what it touches and not the size of the cluster. Indexes say which
/// service an endpoint belonged to (its key alone does not) and which marks a service produced.
struct MeshDesiredTracker {
    private(set) var mesh = DesiredMesh()
    let egressSubnet: CIDR
    private var networks: Set<String> = []
    private var egress: [String: IPv4Address] = [:]
    /// "network/serviceID" -> the view keys of its endpoints.
    private var endpointsOf: [String: Set<String>] = [:]
    /// Endpoint view key -> "network/serviceID".
    private var serviceOf: [String: String] = [:]
    /// "network/serviceID" -> the marks it produced.
    private var marksOf: [String: Set<UInt32>] = [:]
    /// Running local tasks with host-mode ports.
    private var hostTasks: [String: FeedTask] = [:]

    init(egressSubnet: CIDR) { self.egressSubnet = egressSubnet }

    /// Builds everything from the whole view.
    mutating func rebuild(view: [String: FeedObject], networks: Set<String>, egress: [String: IPv4Address]) {
        self = MeshDesiredTracker(egressSubnet: egressSubnet)
        self.networks = networks
        self.egress = egress
        var services: [String] = []
        for (key, object) in view {
            switch object {
            case .network(let network) where networks.contains(network.id):
                if let balancer = balancer(network) { mesh.balancers[network.id] = balancer }
            case .service(let service) where networks.contains(service.networkID):
                services.append("\(service.networkID)/\(service.serviceID)")
            case .endpoint(let endpoint) where networks.contains(endpoint.networkID):
                index(endpoint: key, of: "\(endpoint.networkID)/\(endpoint.serviceID)")
            case .task(let task):
                if Self.hasHostPorts(task) { hostTasks[task.id] = task }
            default: break
            }
        }
        for service in services { _ = refresh(service: service, view: view) }
        refreshHostPorts()
    }

    /// Applies the view keys that changed since the last pass; returns what they touch, or nil
    /// when only a rebuild will do (a network object or the set of namespaces changed).
    mutating func follow(
        view: [String: FeedObject], changed: Set<String>, networks: Set<String>, egress: [String: IPv4Address]
    ) -> MeshScope? {
        guard networks == self.networks, !changed.contains(where: { $0.hasPrefix("network/") }) else {
            return nil
        }
        var scope = MeshScope()
        var services = Set<String>()
        for key in changed {
            if key.hasPrefix("service/") {
                services.insert(String(key.dropFirst("service/".count)))
            } else if key.hasPrefix("endpoint/") {
                if let old = serviceOf[key] {
                    services.insert(old)
                    endpointsOf[old]?.remove(key)
                    serviceOf[key] = nil
                }
                if case .endpoint(let endpoint) = view[key], networks.contains(endpoint.networkID) {
                    let service = "\(endpoint.networkID)/\(endpoint.serviceID)"
                    index(endpoint: key, of: service)
                    services.insert(service)
                }
            } else if key.hasPrefix("task/") {
                let id = String(key.dropFirst("task/".count))
                let was = hostTasks.removeValue(forKey: id) != nil
                if case .task(let task) = view[key], Self.hasHostPorts(task) { hostTasks[task.id] = task }
                if was || hostTasks[id] != nil { scope.hostPorts = true }
            }
        }
        if hostTasks.keys.contains(where: { egress[$0] != self.egress[$0] }) { scope.hostPorts = true }
        self.egress = egress
        for service in services {
            guard let network = service.split(separator: "/").first.map(String.init) else { continue }
            let touched = refresh(service: service, view: view)
            scope.services[network, default: []].formUnion(touched.marks)
            if touched.rules {
                scope.balancers.insert(network)
                if mesh.balancers[network]?.ingress != nil { scope.hostPorts = true }
            }
        }
        if scope.hostPorts { refreshHostPorts() }
        return scope
    }

    private mutating func index(endpoint key: String, of service: String) {
        endpointsOf[service, default: []].insert(key)
        serviceOf[key] = service
    }

    /// Rebuilds one service's IPVS services from the view. Returns the marks it had and has, and
    /// whether the nft rules change (a VIP or a published port came, went or moved).
    private mutating func refresh(service key: String, view: [String: FeedObject]) -> (
        marks: Set<UInt32>, rules: Bool
    ) {
        let old = marksOf.removeValue(forKey: key) ?? []
        let network = key.split(separator: "/").first.map(String.init) ?? ""
        var before: [UInt32: MeshService] = [:]
        for mark in old { before[mark] = mesh.balancers[network]?.services.removeValue(forKey: mark) }
        var after: [UInt32: MeshService] = [:]
        if case .service(let service) = view["service/\(key)"],
            case .network(let feedNetwork) = view["network/\(network)"],
            let ingress = mesh.balancers[network].map({ $0.ingress != nil })
        {
            let endpoints = (endpointsOf[key] ?? []).compactMap { endpointKey -> FeedEndpoint? in
                if case .endpoint(let endpoint) = view[endpointKey] { return endpoint }
                return nil
            }
            // No copy of the balancer is held here: writing into a shared one copies its services.
            for meshService in Self.services(
                of: service, network: feedNetwork, ingress: ingress, endpoints: endpoints)
            {
                after[meshService.mark] = meshService
                mesh.balancers[network]?.services[meshService.mark] = meshService
            }
        }
        if !after.isEmpty { marksOf[key] = Set(after.keys) }
        let rules =
            Set(before.keys) != Set(after.keys)
            || before.contains {
                after[$0.key]?.vip != $0.value.vip || after[$0.key]?.published != $0.value.published
            }
        return (old.union(after.keys), rules)
    }

    private mutating func refreshHostPorts() {
        var ports: [HostPort] = []
        for task in hostTasks.values {
            guard let address = egress[task.id] else { continue }
            for port in task.spec.hostPorts {
                ports.append(
                    HostPort(
                        published: PublishedPort(port.protocol, port.published ?? port.target),
                        address: address,
                        port: port.target))
            }
        }
        for balancer in mesh.balancers.values {
            guard let ingress = balancer.ingress else { continue }
            for service in balancer.services.values {
                guard let published = service.published else { continue }
                ports.append(HostPort(published: published, address: ingress.address, port: published.port))
            }
        }
        mesh.hostPorts = ports.sorted()
    }

    /// Host mode: only a local task that runs, straight to its egress address.
    private static func hasHostPorts(_ task: FeedTask) -> Bool {
        task.desiredState == .running && !task.spec.hostPorts.isEmpty
    }

    /// A network gets a balancer once the allocator gave this node its LB address there.
    private func balancer(_ network: FeedNetwork) -> DesiredBalancer? {
        guard let address = network.loadBalancerIP else { return nil }
        let ingress = IngressLink(
            address: MeshNames.ingressAddress(egressSubnet), prefixLength: egressSubnet.prefixLength,
            gateway: IPv4Address(egressSubnet.network.value + 1))
        return DesiredBalancer(
            networkID: network.id, address: address, prefixLength: network.subnet.prefixLength, services: [:],
            ingress: network.ingress ? ingress : nil)
    }

    /// A service in mode vip with a VIP gets one IPVS service (on the ingress network one per
    /// published port, to the target port); every endpoint of it on the network, on any node, is
    /// a destination, with weight 1 only when its state is `.up`.
    private static func services(
        of service: FeedService, network: FeedNetwork, ingress: Bool, endpoints: [FeedEndpoint]
    ) -> [MeshService] {
        guard service.endpointMode == .vip, let vip = service.virtualIP else { return [] }
        var destinations: [IPv4Address: UInt32] = [:]
        for endpoint in endpoints { destinations[endpoint.address] = endpoint.state == .up ? 1 : 0 }
        let scheduler = (service.scheduler ?? .rr).rawValue
        guard ingress else {
            return [
                MeshService(
                    mark: MeshNames.mark(vip: vip, subnet: network.subnet), vip: vip,
                    name: service.serviceName,
                    scheduler: scheduler, destinations: destinations)
            ]
        }
        return service.ports.compactMap { port in
            guard port.publishMode == .ingress, let published = port.published else { return nil }
            let key = PublishedPort(port.protocol, published)
            return MeshService(
                mark: MeshNames.mark(published: key), vip: nil, published: key, port: port.target,
                name: service.serviceName, scheduler: scheduler, destinations: destinations)
        }
    }
}
