import ArgumentParser
import ShoalModel

/// `service update`: Docker's add/remove flags applied to the current spec; unchanged fields stay.
struct ServiceUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a service; tasks are replaced by a rolling update.",
        discussion:
            "Example: shoalctl service update --env-add MODE=debug --publish-add 9090:90 --update-parallelism 2 web"
    )
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var wait: WaitOptions
    @Option(help: "Number of tasks") var replicas: Int?
    @Option(help: "Image name (shown only)") var image: String?
    @Option(help: "Add or change NAME=value (repeatable)") var envAdd: [String] = []
    @Option(help: "Remove variable NAME (repeatable)") var envRm: [String] = []
    @Option(help: "Publish a port, as --publish of create (repeatable)") var publishAdd: [String] = []
    @Option(help: "Stop publishing TARGET[/udp] (repeatable)") var publishRm: [String] = []
    @Option(help: "Join a network: NET or name=NET,alias=A (repeatable)") var networkAdd: [String] = []
    @Option(help: "Leave a network (repeatable)") var networkRm: [String] = []
    @Option(help: "Add a placement constraint (repeatable)") var constraintAdd: [String] = []
    @Option(help: "Remove a placement constraint (repeatable)") var constraintRm: [String] = []
    @Option(help: "Add or change a label KEY=VALUE (repeatable)") var labelAdd: [String] = []
    @Option(help: "Remove a label KEY (repeatable)") var labelRm: [String] = []
    @Option(help: "vip or dnsrr") var endpointMode: EndpointMode?
    @Option(help: "Tasks updated at once (0: all)") var updateParallelism: Int?
    @Option(help: "Delay between update batches (10s)") var updateDelay: String?
    @Option(help: "start-first or stop-first") var updateOrder: UpdateOrder?
    @OptionGroup var health: HealthOptions
    @Flag(help: "Remove the health check") var noHealthcheck = false
    @Argument(help: "Service id or name") var service: String
    @Argument(parsing: .postTerminator, help: "A new command for the tasks, after --") var command: [String] =
        []

    func apply(to current: ServiceSpec) throws -> ServiceSpec {
        var spec = current
        if let replicas { spec.replicas = replicas }
        if let image { spec.image = image }
        if !envAdd.isEmpty || !envRm.isEmpty {
            let added = try ServiceFlags.env(envAdd)
            let names = Set(added.map { String($0.prefix { $0 != "=" }) } + envRm)
            let kept = (spec.env ?? []).filter { !names.contains(String($0.prefix { $0 != "=" })) }
            spec.env = (kept + added).isEmpty ? nil : kept + added
        }
        if !publishAdd.isEmpty || !publishRm.isEmpty {
            let removed = try publishRm.map { text in
                let port = try PortSyntax.short(text.contains("/") ? text : text + "/tcp")
                guard let first = port.first, port.count == 1 else {
                    throw CtlError("--publish-rm \(text) is one port")
                }
                return "\(first.target)/\(first.protocol.rawValue)"
            }
            let kept = (spec.ports ?? []).filter { !removed.contains("\($0.target)/\($0.protocol.rawValue)") }
            let ports = kept + (try ServiceFlags.ports(publishAdd))
            spec.ports = ports.isEmpty ? nil : ports
        }
        if !networkAdd.isEmpty || !networkRm.isEmpty {
            let kept = (spec.networks ?? []).filter { !networkRm.contains($0.target) }
            let networks = kept + (try networkAdd.map(ServiceFlags.network))
            spec.networks = networks.isEmpty ? nil : networks
        }
        if !constraintAdd.isEmpty || !constraintRm.isEmpty {
            let kept = (spec.placement?.constraints ?? []).filter { !constraintRm.contains($0) }
            let constraints = kept + (try ServiceFlags.constraints(constraintAdd))
            spec.placement = constraints.isEmpty ? nil : Placement(constraints: constraints)
        }
        if !labelAdd.isEmpty || !labelRm.isEmpty {
            var labels = (spec.labels ?? [:]).merging(try ServiceFlags.labels(labelAdd, flag: "--label-add"))
            { $1 }
            for key in labelRm { labels[key] = nil }
            spec.labels = labels.isEmpty ? nil : labels
        }
        if let endpointMode { spec.endpointMode = endpointMode }
        if updateParallelism != nil || updateDelay != nil || updateOrder != nil {
            var policy = spec.effectiveUpdatePolicy
            if let updateParallelism { policy.parallelism = updateParallelism }
            if let updateDelay {
                policy.delaySeconds = try ServiceFlags.seconds(updateDelay, flag: "--update-delay")
            }
            if let updateOrder { policy.order = updateOrder }
            spec.updatePolicy = policy
        }
        if noHealthcheck {
            spec.healthCheck = nil
        } else {
            spec.healthCheck = try health.apply(to: spec.healthCheck)
        }
        if !command.isEmpty { spec.command = command }
        return spec
    }

    func run() async throws {
        let api = try manager.api()
        let current = try await api.service(service)
        let spec = try apply(to: current.spec)
        if spec == current.spec {
            print("\(service): nothing to change")
            return
        }
        _ = try await api.updateService(spec, version: current.version)
        print(service)
        if wait.detach { return }
        try await ProgressWatcher(api: api, timeout: wait.timeout).wait(for: [spec.name])
    }
}
