import ShoalModel

/// What a stack file asks of the cluster: networks to create, external networks it needs, services.
/// Names get the stack's prefix (`vote_frontend`), and every object the label `shoal.stack.namespace`.
public struct StackSpecs: Equatable, Sendable {
    public static let namespaceLabel = "shoal.stack.namespace"

    public var networks: [NetworkSpec]
    public var externalNetworks: [String]
    public var services: [ServiceSpec]

    public init(_ file: StackFile, stack: String) {
        let label = [Self.namespaceLabel: stack]
        var names: [String: String] = [:]
        var networks: [NetworkSpec] = []
        var external: [String] = []
        let usesDefault = file.services.contains {
            $0.networks.isEmpty || $0.networks.contains { $0.target == "default" }
        }
        var declared = file.networks
        if usesDefault && !declared.contains(where: { $0.key == "default" }) {
            declared.append(
                StackNetwork(
                    key: "default", external: false, name: nil, subnet: nil, attachable: nil, internal: nil,
                    labels: [:]))
        }
        for network in declared {
            let name = network.name ?? (network.external ? network.key : "\(stack)_\(network.key)")
            names[network.key] = name
            if network.external {
                external.append(name)
            } else {
                networks.append(
                    NetworkSpec(
                        name: name, subnet: network.subnet, attachable: network.attachable,
                        internal: network.internal, labels: network.labels.merging(label) { $1 }))
            }
        }
        self.networks = networks.sorted { $0.name < $1.name }
        externalNetworks = external.sorted()
        services = file.services.map { service in
            // Like Docker, each service is also known by its short name on its networks.
            let attachments =
                service.networks.isEmpty ? [NetworkAttachment(target: "default")] : service.networks
            let networks = attachments.map { attachment in
                NetworkAttachment(
                    target: names[attachment.target] ?? attachment.target,
                    aliases: [service.name] + (attachment.aliases ?? []).filter { $0 != service.name })
            }
            return ServiceSpec(
                name: "\(stack)_\(service.name)", mode: service.mode, replicas: service.replicas,
                command: service.command, env: service.env.isEmpty ? nil : service.env, networks: networks,
                endpointMode: service.endpointMode, ports: service.ports.isEmpty ? nil : service.ports,
                healthCheck: service.healthCheck, updatePolicy: service.updatePolicy, image: service.image,
                labels: service.labels.merging(label) { $1 },
                placement: service.constraints.isEmpty ? nil : Placement(constraints: service.constraints))
        }
    }
}
