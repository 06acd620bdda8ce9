import ShoalModel

/// Which names a listener answers: those on the asking task's networks, or (loopback listeners for
/// tests and the benchmark) on named networks or on all of them.
public enum DNSScope: Hashable, Sendable {
    case task(String)
    case networks([String])
    case all
}

/// Shoal's own names, built from a node's feed view (docs/dns.md lists them) and kept up to date
/// change by change: each entry remembers the feed object it came from (its owner), and a change
/// recomputes only the owners it touches, so its cost grows with the change, not with the view.
public struct DNSRecordTable: Sendable {
    struct Entry: Sendable {
        var network: Int
        var answer: LocalAnswer
        var ttl: UInt32
        var owner: Owner
    }

    /// The feed object an entry came from: an endpoint, or a service on one network.
    enum Owner: Hashable, Sendable {
        case endpoint(service: String, task: String)
        case service(String)
    }

    private(set) var names: [String: [Entry]] = [:]
    private var networkIndex: [String: Int] = [:]
    private var taskNetworks: [String: [Int]] = [:]
    // The inputs, kept to recompute an owner when it or what it depends on changes.
    private var networkNames: [String: String] = [:]
    /// By "network/service".
    private var services: [String: FeedService] = [:]
    /// The `up` endpoints by "network/service", then by task id.
    private var endpoints: [String: [String: FeedEndpoint]] = [:]
    /// The keys each owner added entries under.
    private var owned: [Owner: [String]] = [:]

    public init() {}

    public init(view: [FeedObject]) {
        apply(view.map { (nil, $0) })
    }

    /// Applies changed feed objects, each as what its key held before (nil: new) and holds now (nil:
    /// removed).
    public mutating func apply(_ changes: [(old: FeedObject?, new: FeedObject?)]) {
        var dirty: Set<Owner> = []
        var renamedNetworks: Set<String> = []
        for (old, new) in changes {
            for object in [old, new] {
                guard let object else { continue }
                switch object {
                case .service(let service): forget(service: service, dirty: &dirty)
                case .endpoint(let endpoint): forget(endpoint: endpoint, dirty: &dirty)
                case .task(let task): taskNetworks[task.id] = nil
                case .network, .loadBalancer: break
                }
            }
            switch new {
            case .network(let network):
                _ = index(of: network.id)
                if networkNames[network.id] != network.name { renamedNetworks.insert(network.id) }
                networkNames[network.id] = network.name
            case .service(let service):
                let key = serviceKey(service.networkID, service.serviceID)
                services[key] = service
                dirty.insert(.service(key))
                for task in endpoints[key, default: [:]].keys {
                    dirty.insert(.endpoint(service: key, task: task))
                }
            case .endpoint(let endpoint) where endpoint.state == .up:
                let key = serviceKey(endpoint.networkID, endpoint.serviceID)
                endpoints[key, default: [:]][endpoint.taskID] = endpoint
                dirty.insert(.endpoint(service: key, task: endpoint.taskID))
                dirty.insert(.service(key))
            case .task(let task):
                var indexes: [Int] = []
                for endpoint in task.endpoints { indexes.append(index(of: endpoint.networkID)) }
                taskNetworks[task.id] = indexes
            case nil, .endpoint, .loadBalancer: break
            }
            if case .network(let network) = old, new == nil {
                networkNames[network.id] = nil
                renamedNetworks.insert(network.id)
            }
        }
        // A network's name is in the qualified names of everything on it.
        for network in renamedNetworks {
            for (key, service) in services where service.networkID == network { dirty.insert(.service(key)) }
            for (key, byTask) in endpoints where byTask.first?.value.networkID == network {
                for task in byTask.keys { dirty.insert(.endpoint(service: key, task: task)) }
            }
        }
        for owner in dirty { recompute(owner) }
    }

    /// Removes a service from the inputs (its entries go when its owner is recomputed).
    private mutating func forget(service: FeedService, dirty: inout Set<Owner>) {
        let key = serviceKey(service.networkID, service.serviceID)
        services[key] = nil
        dirty.insert(.service(key))
        for task in endpoints[key, default: [:]].keys { dirty.insert(.endpoint(service: key, task: task)) }
    }

    private mutating func forget(endpoint: FeedEndpoint, dirty: inout Set<Owner>) {
        let key = serviceKey(endpoint.networkID, endpoint.serviceID)
        endpoints[key]?[endpoint.taskID] = nil
        if endpoints[key]?.isEmpty == true { endpoints[key] = nil }
        dirty.insert(.endpoint(service: key, task: endpoint.taskID))
        dirty.insert(.service(key))
    }

    /// Drops an owner's entries and adds them again from the current inputs (if it still exists).
    private mutating func recompute(_ owner: Owner) {
        for key in owned.removeValue(forKey: owner) ?? [] {
            names[key]?.removeAll { $0.owner == owner }
            if names[key]?.isEmpty == true { names[key] = nil }
        }
        switch owner {
        case .endpoint(let service, let task):
            if let endpoint = endpoints[service]?[task] { add(endpoint: endpoint, owner: owner) }
        case .service(let key):
            if let service = services[key] { add(service: service, owner: owner) }
        }
    }

    private mutating func add(endpoint: FeedEndpoint, owner: Owner) {
        let network = index(of: endpoint.networkID)
        let suffix = networkNames[endpoint.networkID]
        let address = LocalAnswer.address(endpoint.address)
        // The core copies a service's network aliases onto its endpoints; those name the service
        // (its VIP, or its tasks for dnsrr), not each task a second time.
        let serviceAliases = Set(
            (services[serviceKey(endpoint.networkID, endpoint.serviceID)]?.aliases ?? []).map(lowercasedKey))
        let ownAliases = endpoint.aliases.filter { !serviceAliases.contains(lowercasedKey($0)) }
        for name in [endpoint.taskName, "tasks.\(endpoint.serviceName)"] + ownAliases {
            add(name, suffix, network, address, LocalTTL.taskAddress, owner)
        }
        if let target = try? DNSName(qualified(endpoint.taskName, suffix)) {
            add(reverseName(endpoint.address), nil, network, .pointer(target), LocalTTL.taskAddress, owner)
        }
    }

    private mutating func add(service: FeedService, owner: Owner) {
        let network = index(of: service.networkID)
        let suffix = networkNames[service.networkID]
        let up = (endpoints[serviceKey(service.networkID, service.serviceID)] ?? [:]).values.sorted {
            $0.taskID < $1.taskID
        }
        let names = [service.serviceName] + service.aliases
        switch (service.endpointMode, service.virtualIP) {
        case (.vip, let vip?):
            for name in names { add(name, suffix, network, .address(vip), LocalTTL.virtualIP, owner) }
            if let target = try? DNSName(qualified(service.serviceName, suffix)) {
                add(reverseName(vip), nil, network, .pointer(target), LocalTTL.virtualIP, owner)
            }
        case (.vip, nil): break
        case (.dnsrr, _):
            for name in names {
                for endpoint in up {
                    add(name, suffix, network, .address(endpoint.address), LocalTTL.taskAddress, owner)
                }
            }
        }
        let named =
            service.ports.compactMap { port in port.name.map { ($0, port.protocol, port.target) } }
            + (service.exposed ?? []).map { ($0.name, $0.protocol, $0.target) }
        for (portName, proto, portNumber) in named {
            let srvName = "_\(portName)._\(proto.rawValue).\(service.serviceName)"
            let targets = service.endpointMode == .vip ? [service.serviceName] : up.map { $0.taskName }
            for target in targets {
                guard let targetName = try? DNSName(qualified(target, suffix)) else { continue }
                let record = LocalAnswer.service(
                    priority: 0, weight: 10, port: portNumber, target: targetName)
                add(srvName, suffix, network, record, LocalTTL.taskAddress, owner)
            }
        }
    }

    /// The network indexes a scope covers; nil means every network.
    func networks(for scope: DNSScope) -> [Int]? {
        switch scope {
        case .all: nil
        case .task(let id): taskNetworks[id] ?? []
        case .networks(let ids): ids.compactMap { networkIndex[$0] }
        }
    }

    /// The records of `key` on the given networks; empty when the name is not Shoal's there.
    func lookup(_ key: String, networks: [Int]?) -> [Entry] {
        guard let entries = names[key] else { return [] }
        guard let networks else { return entries }
        return entries.filter { networks.contains($0.network) }
    }

    public var nameCount: Int { names.count }

    /// Every name's records as text, with networks by id (tests compare a table kept up to date
    /// change by change with one built from the whole view).
    func canonical() -> [String: [String]] {
        var ids: [Int: String] = [:]
        for (id, index) in networkIndex { ids[index] = id }
        var result: [String: [String]] = [:]
        for (key, entries) in names {
            result[key] = entries.map { "\(ids[$0.network] ?? "?") \($0.answer) \($0.ttl)" }.sorted()
        }
        var tasks: [String: [String]] = [:]
        for (task, indexes) in taskNetworks { tasks[task] = indexes.map { ids[$0] ?? "?" } }
        for (task, networks) in tasks { result["task:\(task)"] = networks }
        return result
    }

    /// Indexes are never reused, so an entry's network stays right however networks come and go.
    private mutating func index(of networkID: String) -> Int {
        if let index = networkIndex[networkID] { return index }
        let index = networkIndex.count
        networkIndex[networkID] = index
        return index
    }

    /// Adds `name` and, with a network name, `name.<network>` as well.
    private mutating func add(
        _ name: String, _ suffix: String?, _ network: Int, _ answer: LocalAnswer, _ ttl: UInt32,
        _ owner: Owner
    ) {
        let key = lowercasedKey(name)
        guard !key.isEmpty else { return }
        let entry = Entry(network: network, answer: answer, ttl: ttl, owner: owner)
        var keys = [key]
        if let suffix { keys.append(lowercasedKey(qualified(key, suffix))) }
        for key in keys {
            names[key, default: []].append(entry)
            owned[owner, default: []].append(key)
        }
    }
}

private func serviceKey(_ networkID: String, _ serviceID: String) -> String { "\(networkID)/\(serviceID)" }

private func qualified(_ name: String, _ suffix: String?) -> String {
    guard let suffix else { return name }
    return "\(name).\(suffix)"
}

private func lowercasedKey(_ name: String) -> String {
    var text = Substring(name)
    if text.hasSuffix(".") { text = text.dropLast() }
    return String(decoding: text.utf8.map(lowercasedASCII), as: UTF8.self)
}

/// `d.c.b.a.in-addr.arpa` for a.b.c.d.
func reverseName(_ address: IPv4Address) -> String {
    address.octets.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
}
