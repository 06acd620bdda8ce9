import ArgumentParser
import ShoalModel

/// The flags `service create` shares with nothing else; `spec()` is what is sent.
struct ServiceCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a service and wait until its tasks run.",
        discussion: """
            Example: shoalctl service create --name web --replicas 3 --network front,alias=www \\
                       -p 8080:80 -e MODE=prod -- http-echo -listen :80
            """)
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var wait: WaitOptions
    @Option(help: "Service name") var name: String
    @Option(help: "Number of tasks (replicated mode)") var replicas: Int?
    @Option(help: "replicated or global") var mode: ServiceModeKind?
    @Option(help: "A network to join: NET or name=NET,alias=A (repeatable)") var network: [String] = []
    @Option(
        name: [.customShort("p"), .long],
        help: "Publish a port: [mode=host,]PUBLISHED:TARGET[/udp], or target=80,published=8080 (repeatable)")
    var publish: [String] = []
    @Option(help: "Expose a named port inside the service's networks (DNS SRV): NAME:PORT[/udp] (repeatable)")
    var expose: [String] = []
    @Option(name: [.customShort("e"), .long], help: "An environment variable NAME=value (repeatable)")
    var env: [String] = []
    @Option(help: "vip or dnsrr") var endpointMode: EndpointMode?
    @Option(help: "Tasks updated at once (0: all)") var updateParallelism: Int?
    @Option(help: "Delay between update batches (10s, 1m30s)") var updateDelay: String?
    @Option(help: "start-first or stop-first") var updateOrder: UpdateOrder?
    @OptionGroup var health: HealthOptions
    @Option(help: "Placement constraint: node.hostname==N, node.role!=manager, node.labels.K==V (repeatable)")
    var constraint: [String] = []
    @Option(help: "A service label KEY=VALUE (repeatable)") var label: [String] = []
    @Option(help: "An image name, kept and shown (tasks run the command)") var image: String?
    @Flag(name: .shortAndLong, help: "Print only the id.") var quiet = false
    @Argument(parsing: .captureForPassthrough, help: "The command each task runs, after --")
    var command: [String] = []

    func spec() throws -> ServiceSpec {
        let words = command.first == "--" ? Array(command.dropFirst()) : command
        guard !words.isEmpty else {
            throw CtlError(
                "service create needs the command the tasks run",
                hint: "put it after --: -- http-echo -listen :80")
        }
        var policy: UpdatePolicy?
        if updateParallelism != nil || updateDelay != nil || updateOrder != nil {
            policy = UpdatePolicy(
                parallelism: updateParallelism ?? 1,
                delaySeconds: try updateDelay.map { try ServiceFlags.seconds($0, flag: "--update-delay") }
                    ?? 0,
                order: updateOrder ?? .stopFirst)
        }
        let labels = try ServiceFlags.labels(label, flag: "--label")
        let networks = try network.map(ServiceFlags.network)
        let ports = try ServiceFlags.ports(publish)
        let constraints = try ServiceFlags.constraints(constraint)
        return ServiceSpec(
            name: name, mode: mode, replicas: replicas, command: words,
            env: env.isEmpty ? nil : try ServiceFlags.env(env),
            networks: networks.isEmpty ? nil : networks, endpointMode: endpointMode,
            ports: ports.isEmpty ? nil : ports,
            healthCheck: try health.apply(to: nil),
            updatePolicy: policy, image: image, labels: labels.isEmpty ? nil : labels,
            placement: constraints.isEmpty ? nil : Placement(constraints: constraints),
            expose: expose.isEmpty ? nil : try ServiceFlags.exposed(expose))
    }

    func run() async throws {
        let spec = try spec()
        let api = try manager.api()
        let service = try await api.send(.POST, "/v1/services", spec, as: Service.self)
        print(service.id)
        if quiet || wait.detach { return }
        try await ProgressWatcher(api: api, timeout: wait.timeout).wait(for: [service.spec.name])
    }
}
