import ShoalModel

/// What `stack deploy` will do, decided before anything is changed: the cluster's current networks
/// and services against the stack's specs. Unchanged services are left alone.
public struct StackPlan: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        case createNetwork(NetworkSpec)
        case createService(ServiceSpec)
        /// `scaleOnly`: only the replica count differs, so no task is replaced.
        case updateService(ServiceSpec, version: UInt64, scaleOnly: Bool)
        case unchanged(String)
        case removeService(String)
    }

    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
    }

    public var actions: [Action]

    public init(
        _ specs: StackSpecs, stack: String, networks: [Network], services: [Service], prune: Bool = false
    ) throws(Refusal) {
        let label = StackSpecs.namespaceLabel
        var actions: [Action] = []
        for name in specs.externalNetworks where !networks.contains(where: { $0.name == name }) {
            throw Refusal(
                description: "network \(name) is external but does not exist; create it first "
                    + "(shoalctl network create \(name))")
        }
        for spec in specs.networks {
            guard let existing = networks.first(where: { $0.name == spec.name }) else {
                actions.append(.createNetwork(spec))
                continue
            }
            guard existing.labels?[label] == stack else {
                throw Refusal(
                    description: "network \(spec.name) exists and is not part of stack \(stack); "
                        + "remove it or rename the network in the file")
            }
            let differs =
                (spec.subnet.map { $0 != existing.subnet } ?? false)
                || (spec.internal ?? false) != existing.internal
            if differs {
                throw Refusal(
                    description: "network \(spec.name) exists with subnet \(existing.subnet), internal "
                        + "\(existing.internal); a network cannot change: remove the stack first "
                        + "(shoalctl stack rm \(stack))")
            }
        }
        for spec in specs.services {
            guard let existing = services.first(where: { $0.spec.name == spec.name }) else {
                actions.append(.createService(spec))
                continue
            }
            guard existing.spec.labels?[label] == stack else {
                throw Refusal(
                    description: "service \(spec.name) exists and is not part of stack \(stack); "
                        + "remove it (shoalctl service rm \(spec.name)) or rename the service in the file")
            }
            if existing.spec == spec {
                actions.append(.unchanged(spec.name))
                continue
            }
            if existing.spec.effectiveMode != spec.effectiveMode {
                throw Refusal(
                    description: "service \(spec.name) is \(existing.spec.effectiveMode.rawValue); its mode "
                        + "cannot change: remove it first (shoalctl service rm \(spec.name))")
            }
            var scaled = existing.spec
            scaled.replicas = spec.replicas
            actions.append(.updateService(spec, version: existing.version, scaleOnly: scaled == spec))
        }
        if prune {
            let wanted = Set(specs.services.map(\.name))
            for service in services.sorted(by: { $0.spec.name < $1.spec.name })
            where service.spec.labels?[label] == stack && !wanted.contains(service.spec.name) {
                actions.append(.removeService(service.spec.name))
            }
        }
        self.actions = actions
    }

    /// Names of the services a deploy changes (their convergence is what it waits for).
    public var changedServices: [String] {
        actions.compactMap { action in
            switch action {
            case .createService(let spec), .updateService(let spec, _, _): spec.name
            default: nil
            }
        }
    }
}
