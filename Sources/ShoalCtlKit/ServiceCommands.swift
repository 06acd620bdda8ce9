import ArgumentParser
import ShoalModel

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Manage services.",
        discussion: "Example: shoalctl service create --name web --replicas 3 -p 8080:80 -- http-echo",
        subcommands: [
            ServiceCreate.self, ServiceList.self, ServicePS.self, ServiceInspect.self, ServiceScale.self,
            ServiceUpdate.self, ServiceRollback.self, ServiceRemove.self, ServiceLogs.self,
        ])
}

/// `service ls` and `stack services`: Docker's columns, replicas counted from the tasks.
enum ServiceTable {
    static func show(_ services: [Service], api: ManagerAPIClient, _ output: OutputOptions) async throws {
        var rows: [String: String] = [:]
        if output.format == .table && !output.quiet {
            let tasks = try await api.tasks()
            for service in services {
                let running = tasks.filter {
                    $0.serviceID == service.id && $0.desiredState == .running && $0.state == .running
                }.count
                let wanted =
                    service.spec.effectiveMode == .global ? "global" : "\(service.spec.effectiveReplicas)"
                rows[service.id] = "\(running)/\(wanted)"
            }
        }
        try Output.list(
            services, output, id: \.id, header: ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
        ) { service in
            let ports = service.ports.map { port in
                "*:\(port.published.map(String.init) ?? "?")->\(port.target)/\(port.protocol.rawValue)"
                    + (port.publishMode == .host ? " (host)" : "")
            }
            return [
                service.id, service.spec.name, service.spec.effectiveMode.rawValue, rows[service.id] ?? "",
                service.spec.image ?? "-", ports.joined(separator: ","),
            ]
        }
    }
}

struct ServiceList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List services.",
        discussion: "Example: shoalctl service ls --format json")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let api = try manager.api()
        try await ServiceTable.show(try await api.services(), api: api, output)
    }
}

struct ServicePS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List the tasks of services.",
        discussion: "Example: shoalctl service ps web")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Service ids or names") var services: [String]

    func run() async throws {
        let api = try manager.api()
        var tasks: [ClusterTask] = []
        for name in services {
            let service = try await api.service(name)
            tasks += try await api.tasks(service: service.id)
        }
        try TaskTable.show(tasks, nodes: try await api.nodes(), output)
    }
}

struct ServiceInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show services as JSON.",
        discussion: "Example: shoalctl service inspect web")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "Service ids or names") var services: [String]

    func run() async throws {
        print(try await manager.api().inspect(Service.self, "services", services))
    }
}

struct ServiceScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale", abstract: "Change the number of tasks of replicated services.",
        discussion: "Example: shoalctl service scale web=5 api=2")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "SERVICE=REPLICAS pairs") var pairs: [String]

    func run() async throws {
        let wanted = try pairs.map(ServiceFlags.scale)
        let api = try manager.api()
        for (name, replicas) in wanted {
            let service = try await api.service(name)
            guard service.spec.effectiveMode == .replicated else {
                throw CtlError("service \(name) is global: it runs one task per node and cannot be scaled")
            }
            var spec = service.spec
            spec.replicas = replicas
            _ = try await api.updateService(spec, version: service.version)
            print("\(name) scaled to \(replicas)")
        }
        if wait.detach { return }
        try await ProgressWatcher(api: api, timeout: wait.timeout).wait(for: wanted.map(\.0))
    }
}

struct ServiceRollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Return a service to its spec before the last update.",
        discussion: "Example: shoalctl service rollback web")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "Service id or name") var service: String

    func run() async throws {
        let api = try manager.api()
        let current = try await api.service(service)
        guard let previous = current.previousSpec else {
            throw CtlError(
                "service \(service) has no previous spec to roll back to", hint: "it was never updated")
        }
        _ = try await api.updateService(previous, version: current.version)
        print("\(service) rolled back")
        if wait.detach { return }
        try await ProgressWatcher(api: api, timeout: wait.timeout).wait(for: [previous.name])
    }
}

struct ServiceRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove services; their tasks stop.",
        discussion: "Example: shoalctl service rm web")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "Service ids or names") var services: [String]

    func run() async throws {
        try await manager.api().remove("services", services)
    }
}
