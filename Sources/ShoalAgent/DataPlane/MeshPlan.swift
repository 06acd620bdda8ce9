import ShoalModel

/// One change to a network namespace's load balancer.
public enum MeshOp: Equatable, Sendable, CustomStringConvertible {
    /// `br0` gets the LB address's MAC (other nodes program it as a peer) and the address; the
    /// IPVS sysctls are set.
    case setUp(network: String, address: IPv4Address, prefixLength: Int, mac: MACAddress)
    /// The ingress namespace's `gw0` on the node's gateway bridge: address and default route.
    case attachIngress(network: String, IngressLink)
    /// Rewrites the node namespace's `shoal_ingress` table (removes it when `ports` is empty).
    case writeHostRules([HostPort])
    case addVIP(network: String, IPv4Address)
    case deleteAddress(network: String, IPv4Address, prefixLength: Int)
    /// Rewrites Shoal's nft table of the namespace in one `nft -f -` transaction.
    case writeRules(network: String, DesiredBalancer)
    case addService(network: String, mark: UInt32, scheduler: String)
    case updateService(network: String, mark: UInt32, scheduler: String)
    case deleteService(network: String, mark: UInt32)
    case addDestination(MeshDestinationKey, weight: UInt32)
    case updateDestination(MeshDestinationKey, weight: UInt32)
    /// Deletes the destination and the conntrack entries of UDP flows to it (datagrams have no
    /// connection to drain: clients move to another task at once).
    case deleteDestination(MeshDestinationKey)

    public var network: String {
        switch self {
        case .writeHostRules: ""
        case .setUp(let network, _, _, _), .attachIngress(let network, _), .addVIP(let network, _),
            .deleteAddress(let network, _, _),
            .writeRules(let network, _), .addService(let network, _, _), .updateService(let network, _, _),
            .deleteService(let network, _):
            network
        case .addDestination(let key, _), .updateDestination(let key, _), .deleteDestination(let key):
            key.network
        }
    }

    /// Sent through the namespace's IPVS socket (pipelined in runs).
    public var isIPVS: Bool {
        switch self {
        case .addService, .updateService, .deleteService, .addDestination, .updateDestination,
            .deleteDestination:
            true
        default: false
        }
    }

    /// A VIP address on `br0` (pipelined in runs).
    public var isVIP: Bool {
        if case .addVIP = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .setUp(let network, let address, let prefix, let mac):
            "load balancer \(address)/\(prefix) \(mac) on \(network)"
        case .attachIngress(let network, let link):
            "ingress \(link.address) via \(link.gateway) on \(network)"
        case .writeHostRules(let ports): "nft table \(MeshNames.hostTable) (\(ports.count) ports)"
        case .addVIP(let network, let vip): "vip \(vip)/32 on \(network)"
        case .deleteAddress(let network, let address, let prefix):
            "delete address \(address)/\(prefix) on \(network)"
        case .writeRules(let network, let balancer):
            "nft table \(MeshNames.table) (\(balancer.services.count) vips) on \(network)"
        case .addService(let network, let mark, let scheduler): "ipvs FWM \(mark) \(scheduler) on \(network)"
        case .updateService(let network, let mark, let scheduler):
            "ipvs FWM \(mark) scheduler \(scheduler) on \(network)"
        case .deleteService(let network, let mark): "delete ipvs FWM \(mark) on \(network)"
        case .addDestination(let key, let weight): "ipvs \(key) weight \(weight)"
        case .updateDestination(let key, let weight): "ipvs \(key) weight \(weight)"
        case .deleteDestination(let key): "delete ipvs \(key)"
        }
    }
}

/// The mesh reconciler's pure half.
public enum MeshPlanner {
    /// What to change so each balancer's namespace matches. Order: the balancer's address and
    /// VIPs, the nft table, services, new destinations and weights, then removals: a destination
    /// the view dropped first goes to weight 0 (drain) and is deleted only once it is in
    /// `released` (no connections left, or its grace period is over); stale services, stale addresses.
    /// Networks observed but not desired are left alone: their namespace goes with the overlay.
    /// `scope` limits the plan to what changed (nil: everything, as after a dump).
    public static func plan(
        desired: DesiredMesh, observed: ObservedMesh, released: Set<MeshDestinationKey>,
        scope: MeshScope? = nil
    ) -> [MeshOp] {
        var ops: [MeshOp] = []
        var removals: [MeshOp] = []
        for balancer in desired.balancers.values.sorted(by: { $0.networkID < $1.networkID }) {
            let network = balancer.networkID
            let whole = scope?.balancers.contains(network) ?? true
            let marks = scope.map { $0.services[network] ?? [] }
            if !whole && marks?.isEmpty ?? true { continue }
            let current = observed.balancers[network] ?? ObservedBalancer()
            if whole,
                current.mac != balancer.mac || current.addresses[balancer.address] != balancer.prefixLength
                    || !current.sysctls
            {
                ops.append(
                    .setUp(
                        network: network, address: balancer.address, prefixLength: balancer.prefixLength,
                        mac: balancer.mac))
            }
            if whole, let ingress = balancer.ingress, current.ingress != ingress.address {
                ops.append(.attachIngress(network: network, ingress))
            }
            let vips = whole ? balancer.vips : []
            for vip in vips.sorted() where current.addresses[vip] != 32 {
                ops.append(.addVIP(network: network, vip))
            }
            if whole && current.rulesDigest != MeshRules.digest(balancer) {
                ops.append(.writeRules(network: network, balancer))
            }
            var drains: [MeshOp] = []
            let planned =
                marks.map { $0.sorted().compactMap { balancer.services[$0] } }
                ?? Array(balancer.services.values)
            for service in planned.sorted(by: { $0.mark < $1.mark }) {
                let mark = service.mark
                let existing = current.services[mark]
                if existing == nil {
                    ops.append(.addService(network: network, mark: mark, scheduler: service.scheduler))
                } else if existing?.scheduler != service.scheduler {
                    ops.append(.updateService(network: network, mark: mark, scheduler: service.scheduler))
                }
                let have = existing?.destinations ?? [:]
                for (address, weight) in service.destinations.sorted(by: { $0.key < $1.key }) {
                    let key = MeshDestinationKey(
                        network: network, mark: mark, address: address, port: service.port)
                    if let observed = have[address], observed.port == service.port {
                        if observed.weight != weight { ops.append(.updateDestination(key, weight: weight)) }
                    } else {
                        // IPVS names a destination by address and port: another port is another one.
                        if let observed = have[address] {
                            ops.append(
                                .deleteDestination(
                                    MeshDestinationKey(
                                        network: network, mark: mark, address: address, port: observed.port)))
                        }
                        ops.append(.addDestination(key, weight: weight))
                    }
                }
                for (address, observed) in have.sorted(by: { $0.key < $1.key })
                where service.destinations[address] == nil {
                    let key = MeshDestinationKey(
                        network: network, mark: mark, address: address, port: observed.port)
                    if released.contains(key) {
                        drains.append(.deleteDestination(key))
                    } else if observed.weight != 0 {
                        drains.append(.updateDestination(key, weight: 0))
                    }
                }
            }
            ops += drains
            for mark in (marks ?? Set(current.services.keys)).sorted()
            where balancer.services[mark] == nil && current.services[mark] != nil {
                removals.append(.deleteService(network: network, mark: mark))
            }
            for (address, prefix) in (whole ? current.addresses : [:]).sorted(by: { $0.key < $1.key })
            where address != balancer.address && !vips.contains(address) {
                removals.append(.deleteAddress(network: network, address, prefixLength: prefix))
            }
        }
        if scope?.hostPorts ?? true, observed.hostRulesDigest != HostRules.digest(desired.hostPorts) {
            ops.append(.writeHostRules(desired.hostPorts))
        }
        return ops + removals
    }

    /// Destinations the view dropped that are still in the kernel: draining at weight 0. Only the
    /// services in `scope` when given.
    public static func lingering(desired: DesiredMesh, observed: ObservedMesh, scope: MeshScope? = nil)
        -> Set<MeshDestinationKey>
    {
        var keys = Set<MeshDestinationKey>()
        for (network, balancer) in observed.balancers {
            guard let wanted = desired.balancers[network] else { continue }
            for mark in scope.map({ $0.services[network] ?? [] }) ?? Set(balancer.services.keys) {
                guard let service = balancer.services[mark], let desiredService = wanted.services[mark] else {
                    continue
                }
                for (address, observed) in service.destinations
                where desiredService.destinations[address] == nil {
                    keys.insert(
                        MeshDestinationKey(
                            network: network, mark: mark, address: address, port: observed.port))
                }
            }
        }
        return keys
    }
}

extension ObservedMesh {
    /// What the kernel holds after `op` succeeded (the applied mirror, and the fake kernel).
    public mutating func record(_ op: MeshOp) {
        if case .writeHostRules(let ports) = op {
            hostRulesDigest = HostRules.digest(ports)
            return
        }
        let network = op.network
        // Taken out, not copied: mutating a copy would copy its services (O(n) per op).
        var balancer = balancers.removeValue(forKey: network) ?? ObservedBalancer()
        switch op {
        case .setUp(_, let address, let prefix, let mac):
            balancer.mac = mac
            balancer.addresses[address] = prefix
            balancer.sysctls = true
        case .attachIngress(_, let link): balancer.ingress = link.address
        case .writeHostRules: break
        case .addVIP(_, let vip): balancer.addresses[vip] = 32
        case .deleteAddress(_, let address, _): balancer.addresses[address] = nil
        case .writeRules(_, let desired): balancer.rulesDigest = MeshRules.digest(desired)
        case .addService(_, let mark, let scheduler):
            balancer.services[mark] = ObservedMeshService(scheduler: scheduler)
        case .updateService(_, let mark, let scheduler): balancer.services[mark]?.scheduler = scheduler
        case .deleteService(_, let mark): balancer.services[mark] = nil
        case .addDestination(let key, let weight), .updateDestination(let key, let weight):
            let active = balancer.services[key.mark]?.destinations[key.address]?.active ?? 0
            balancer.services[key.mark]?.destinations[key.address] = ObservedDestination(
                weight: weight, active: active, port: key.port)
        case .deleteDestination(let key): balancer.services[key.mark]?.destinations[key.address] = nil
        }
        balancers[network] = balancer
    }
}

/// What a pass plans: the balancer-level objects (addresses, nft table) of `balancers`, the IPVS
/// services `services` names, and the node's host rules when `hostPorts`. A pass after a dump
/// plans everything (no scope); between dumps only what the view changed and what failed.
public struct MeshScope: Equatable, Sendable {
    public var balancers: Set<String> = []
    /// Network -> firewall marks.
    public var services: [String: Set<UInt32>] = [:]
    public var hostPorts = false

    public init() {}

    public var isEmpty: Bool { balancers.isEmpty && services.values.allSatisfy(\.isEmpty) && !hostPorts }

    public mutating func formUnion(_ other: MeshScope) {
        balancers.formUnion(other.balancers)
        services.merge(other.services) { $0.union($1) }
        hostPorts = hostPorts || other.hostPorts
    }
}
