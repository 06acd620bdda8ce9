import ShoalModel

/// Which names a listener answers: those on the asking task's networks, or (loopback listeners for
/// tests and the benchmark) on named networks or on all of them.
public enum DNSScope: Hashable, Sendable {
    case task(String)
    case networks([String])
    case all
}

/// Shoal's own names, built from a node's feed view (docs/dns.md lists them). Immutable: a change of
/// the view builds a new table and `DNSRecordStore` swaps it in.
public struct DNSRecordTable: Sendable {
    struct Entry: Sendable {
        var network: Int
        var answer: LocalAnswer
        var ttl: UInt32
    }

    private(set) var names: [String: [Entry]] = [:]
    private var networkIndex: [String: Int] = [:]
    private var taskNetworks: [String: [Int]] = [:]

    public init() {}

    public init(view: [FeedObject]) {
        var networks: [String: String] = [:]
        var services: [FeedService] = []
        var endpoints: [FeedEndpoint] = []
        for object in view {
            switch object {
            case .network(let network): networks[network.id] = network.name
            case .service(let service): services.append(service)
            case .endpoint(let endpoint) where endpoint.state == .up: endpoints.append(endpoint)
            case .task(let task):
                var indexes: [Int] = []
                for endpoint in task.endpoints { indexes.append(index(of: endpoint.networkID)) }
                taskNetworks[task.id] = indexes
            default: break
            }
        }
        // The core copies a service's network aliases onto its endpoints; those name the service
        // (its VIP, or its tasks for dnsrr), not each task a second time.
        var serviceAliases: [String: Set<String>] = [:]
        for service in services {
            serviceAliases["\(service.networkID)/\(service.serviceID)"] = Set(
                service.aliases.map(lowercasedKey))
        }
        var upByService: [String: [FeedEndpoint]] = [:]
        for endpoint in endpoints {
            upByService["\(endpoint.networkID)/\(endpoint.serviceID)", default: []].append(endpoint)
            let network = index(of: endpoint.networkID)
            let suffix = networks[endpoint.networkID]
            let address = LocalAnswer.address(endpoint.address)
            let ownAliases = endpoint.aliases.filter {
                serviceAliases["\(endpoint.networkID)/\(endpoint.serviceID)"]?.contains(lowercasedKey($0))
                    != true
            }
            for name in [endpoint.taskName, "tasks.\(endpoint.serviceName)"] + ownAliases {
                add(name, suffix, network, address, LocalTTL.taskAddress)
            }
            if let target = try? DNSName(qualified(endpoint.taskName, suffix)) {
                add(reverseName(endpoint.address), nil, network, .pointer(target), LocalTTL.taskAddress)
            }
        }
        for service in services {
            let network = index(of: service.networkID)
            let suffix = networks[service.networkID]
            let up = upByService["\(service.networkID)/\(service.serviceID)"] ?? []
            let names = [service.serviceName] + service.aliases
            switch (service.endpointMode, service.virtualIP) {
            case (.vip, let vip?):
                for name in names { add(name, suffix, network, .address(vip), LocalTTL.virtualIP) }
                if let target = try? DNSName(qualified(service.serviceName, suffix)) {
                    add(reverseName(vip), nil, network, .pointer(target), LocalTTL.virtualIP)
                }
            case (.vip, nil): break
            case (.dnsrr, _):
                for name in names {
                    for endpoint in up {
                        add(name, suffix, network, .address(endpoint.address), LocalTTL.taskAddress)
                    }
                }
            }
            let named =
                service.ports.compactMap { port in port.name.map { ($0, port.protocol, port.target) } }
                + (service.exposed ?? []).map { ($0.name, $0.protocol, $0.target) }
            for (portName, proto, portNumber) in named {
                let owner = "_\(portName)._\(proto.rawValue).\(service.serviceName)"
                let targets =
                    service.endpointMode == .vip ? [service.serviceName] : up.map { $0.taskName }
                for target in targets {
                    guard let targetName = try? DNSName(qualified(target, suffix)) else { continue }
                    let record = LocalAnswer.service(
                        priority: 0, weight: 10, port: portNumber, target: targetName)
                    add(owner, suffix, network, record, LocalTTL.taskAddress)
                }
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

    private mutating func index(of networkID: String) -> Int {
        if let index = networkIndex[networkID] { return index }
        let index = networkIndex.count
        networkIndex[networkID] = index
        return index
    }

    /// Adds `name` and, with a network name, `name.<network>` as well.
    private mutating func add(
        _ name: String, _ suffix: String?, _ network: Int, _ answer: LocalAnswer, _ ttl: UInt32
    ) {
        let key = lowercasedKey(name)
        guard !key.isEmpty else { return }
        let entry = Entry(network: network, answer: answer, ttl: ttl)
        names[key, default: []].append(entry)
        if let suffix { names[lowercasedKey(qualified(key, suffix)), default: []].append(entry) }
    }
}

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
