import ArgumentParser
import Foundation
import ShoalModel

struct StackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack", abstract: "Deploy and manage stacks (Compose files).",
        discussion: "Example: shoalctl stack deploy -c examples/vote/stack.yml vote",
        subcommands: [StackDeploy.self, StackList.self, StackServices.self, StackPS.self, StackRemove.self])
}

extension Service {
    var stack: String? { spec.labels?[StackSpecs.namespaceLabel] }
}

struct StackDeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Create or update a stack from a Compose file; only what changed is updated.",
        discussion: "Example: shoalctl stack deploy -c examples/vote/stack.yml vote")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var wait: WaitOptions
    @Option(name: [.customShort("c"), .customLong("compose-file")], help: "The stack file") var file: String
    @Flag(help: "Remove the stack's services the file no longer has.") var prune = false
    @Argument(help: "Stack name; prefixes its services and networks") var stack: String

    /// Reads and checks the file; prints its warnings. Nothing is deployed when this throws.
    static func load(_ path: String, stack: String) throws -> StackSpecs {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CtlError("cannot read \(path): \(error.localizedDescription)")
        }
        guard stack.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", options: .regularExpression) != nil else {
            throw CtlError(
                "stack name \(stack) must start with a letter or digit and hold letters, digits, '-', '_', '.'"
            )
        }
        let file = try StackFileParser.parse(
            text, path: path, environment: ProcessInfo.processInfo.environment)
        for warning in file.warnings { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        return StackSpecs(file, stack: stack)
    }

    func run() async throws {
        let specs = try Self.load(file, stack: stack)
        let api = try manager.api()
        let plan: StackPlan
        do {
            plan = try StackPlan(
                specs, stack: stack, networks: try await api.networks(), services: try await api.services(),
                prune: prune)
        } catch let refusal as StackPlan.Refusal {
            throw CtlError("nothing deployed: \(refusal.description)")
        }
        for action in plan.actions {
            switch action {
            case .createNetwork(let spec):
                print("Creating network \(spec.name)")
                try await api.send(.POST, "/v1/networks", spec, as: Network.self)
            case .createService(let spec):
                print("Creating service \(spec.name)")
                try await api.send(.POST, "/v1/services", spec, as: Service.self)
            case .updateService(let spec, let version, let scaleOnly):
                print("\(scaleOnly ? "Scaling" : "Updating") service \(spec.name)")
                _ = try await api.updateService(spec, version: version)
            case .unchanged(let name):
                print("Service \(name) is unchanged")
            case .removeService(let name):
                print("Removing service \(name)")
                try await api.delete("/v1/services/\(ManagerAPIClient.escape(name))")
            }
        }
        let changed = plan.changedServices
        if wait.detach || changed.isEmpty { return }
        try await ProgressWatcher(api: api, timeout: wait.timeout).wait(for: changed)
    }
}

struct StackList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List stacks.", discussion: "Example: shoalctl stack ls")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions

    struct Entry: Codable {
        var name: String
        var services: Int
    }

    func run() async throws {
        let services = try await manager.api().services()
        let entries = Dictionary(grouping: services.compactMap(\.stack), by: { $0 })
            .map { Entry(name: $0.key, services: $0.value.count) }.sorted { $0.name < $1.name }
        try Output.list(entries, output, id: \.name, header: ["NAME", "SERVICES"]) {
            [$0.name, "\($0.services)"]
        }
    }
}

struct StackServices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "List a stack's services.",
        discussion: "Example: shoalctl stack services vote")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Stack name") var stack: String

    func run() async throws {
        let api = try manager.api()
        let services = try await api.services().filter { $0.stack == stack }
        guard !services.isEmpty else {
            throw CtlError("no stack \(stack)", hint: "shoalctl stack ls lists them")
        }
        try await ServiceTable.show(services, api: api, output)
    }
}

struct StackPS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List a stack's tasks.", discussion: "Example: shoalctl stack ps vote")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Stack name") var stack: String

    func run() async throws {
        let api = try manager.api()
        let ids = Set(try await api.services().filter { $0.stack == stack }.map(\.id))
        guard !ids.isEmpty else { throw CtlError("no stack \(stack)", hint: "shoalctl stack ls lists them") }
        let tasks = try await api.tasks().filter { ids.contains($0.serviceID) }
        try TaskTable.show(tasks, nodes: try await api.nodes(), output)
    }
}

struct StackRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a stack's services and its own networks.",
        discussion: "Example: shoalctl stack rm vote")
    @OptionGroup var manager: ManagerOptions
    @Option(help: "Seconds to wait for the tasks to stop before a network can go.") var timeout: Double = 60
    @Argument(help: "Stack name") var stack: String

    func run() async throws {
        let api = try manager.api()
        let services = try await api.services().filter { $0.stack == stack }
        let networks = try await api.networks().filter { $0.labels?[StackSpecs.namespaceLabel] == stack }
        guard !services.isEmpty || !networks.isEmpty else {
            throw CtlError("no stack \(stack)", hint: "shoalctl stack ls lists them")
        }
        for service in services.sorted(by: { $0.spec.name < $1.spec.name }) {
            print("Removing service \(service.spec.name)")
            try await api.delete("/v1/services/\(service.id)")
        }
        // A network goes once the tasks on it have stopped (their agents report it).
        let deadline = Date().addingTimeInterval(timeout)
        for network in networks.sorted(by: { $0.name < $1.name }) {
            print("Removing network \(network.name)")
            while true {
                do {
                    try await api.delete("/v1/networks/\(network.id)")
                    break
                } catch let error as CtlError where error.message.contains("409") && Date() < deadline {
                    try await Task.sleep(nanoseconds: 300_000_000)
                }
            }
        }
    }
}
