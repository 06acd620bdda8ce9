import ArgumentParser
import ShoalModel

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Manage nodes.",
        discussion: "Example: shoalctl node update --availability drain node2",
        subcommands: [NodeList.self, NodeInspect.self, NodeUpdateCommand.self, NodePS.self, NodeRemove.self])
}

struct NodeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List nodes.", discussion: "Example: shoalctl node ls --format json")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try Output.list(
            try await manager.api().nodes(), output, id: \.id,
            header: ["ID", "NAME", "ROLE", "STATUS", "AVAILABILITY", "ADDRESS"]
        ) { node in
            [
                node.id, node.name, node.role.rawValue, node.state.rawValue, node.availability.rawValue,
                "\(node.address)",
            ]
        }
    }
}

struct NodeInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show nodes as JSON.",
        discussion: "Example: shoalctl node inspect node1")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "Node ids or names") var nodes: [String]

    func run() async throws {
        print(try await manager.api().inspect(Node.self, "nodes", nodes))
    }
}

struct NodeUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a node's availability, role or labels.",
        discussion: "Example: shoalctl node update --availability drain --label-add zone=a node2")
    @OptionGroup var manager: ManagerOptions
    @Option(help: "active, pause or drain") var availability: NodeAvailability?
    @Option(help: "manager or worker") var role: NodeRole?
    @Option(help: "Add or change a label KEY=VALUE (repeatable)") var labelAdd: [String] = []
    @Option(help: "Remove a label KEY (repeatable)") var labelRm: [String] = []
    @Argument(help: "Node id or name") var node: String

    func run() async throws {
        let api = try manager.api()
        let path = "/v1/nodes/\(ManagerAPIClient.escape(node))"
        let current = try await api.get(Node.self, path)
        var labels: [String: String]?
        if !labelAdd.isEmpty || !labelRm.isEmpty {
            var merged = (current.labels ?? [:]).merging(
                try ServiceFlags.labels(labelAdd, flag: "--label-add")
            ) { $1 }
            for key in labelRm { merged[key] = nil }
            labels = merged
        }
        let update = ShoalModel.NodeUpdate(availability: availability, role: role, labels: labels)
        try await api.send(.POST, "\(path)/update?version=\(current.version)", update, as: Node.self)
        print(node)
    }
}

struct NodePS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List the tasks on a node.",
        discussion: "Example: shoalctl node ps node1")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Node id or name") var node: String

    func run() async throws {
        let api = try manager.api()
        let tasks = try await api.get(
            [ClusterTask].self, "/v1/tasks?node=\(ManagerAPIClient.escape(node))")
        try TaskTable.show(tasks, nodes: try await api.nodes(), output)
    }
}

struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove nodes and revoke their certificates.",
        discussion: "Example: shoalctl node rm --force node3")
    @OptionGroup var manager: ManagerOptions
    @Flag(name: .shortAndLong, help: "Remove even when the node is not DOWN.") var force = false
    @Argument(help: "Node ids or names") var nodes: [String]

    func run() async throws {
        try await manager.api().remove("nodes", nodes, query: force ? "?force=true" : "")
    }
}

extension NodeAvailability: ExpressibleByArgument {}
extension NodeRole: ExpressibleByArgument {}
extension ServiceModeKind: ExpressibleByArgument {}
extension EndpointMode: ExpressibleByArgument {}
extension UpdateOrder: ExpressibleByArgument {}

/// `service ps`, `node ps` and `stack ps`: Docker's columns.
enum TaskTable {
    static func show(_ tasks: [ClusterTask], nodes: [Node], _ output: OutputOptions) throws {
        let names = Dictionary(nodes.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        try Output.list(
            tasks, output, id: \.id,
            header: ["ID", "NAME", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"]
        ) { task in
            let failed = task.state == .failed || task.state == .rejected || task.health == .unhealthy
            // Docker's `docker ps` form: "running (healthy)" for a task with a health check.
            let health = task.state == .running ? task.health.map { " (\($0.rawValue))" } ?? "" : ""
            return [
                task.id, "\(task.serviceName).\(task.slot > 0 ? "\(task.slot)" : task.nodeID ?? "-")",
                task.nodeID.map { names[$0] ?? $0 } ?? "-", task.desiredState.rawValue,
                task.state.rawValue + health, failed ? task.status : "",
            ]
        }
    }
}
