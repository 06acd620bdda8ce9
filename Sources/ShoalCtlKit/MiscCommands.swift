import ArgumentParser
import Foundation
import NIOHTTP1
import ShoalModel

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Join tokens.",
        discussion: "Example: shoalctl cluster join-token worker",
        subcommands: [JoinTokenCommand.self, RotateTokenCommand.self])
}

struct JoinTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-token", abstract: "Print a join token.",
        discussion: "Example: shoalctl cluster join-token worker")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "worker or manager") var role: String

    func run() async throws {
        print(try await manager.api().get(JoinTokenResponse.self, "/v1/cluster/tokens/\(role)").token)
    }
}

struct RotateTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-token", abstract: "Replace a join token; the old one stops working.",
        discussion: "Example: shoalctl cluster rotate-token worker")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "worker or manager") var role: String

    func run() async throws {
        let result = try await manager.api().call(.POST, "/v1/cluster/tokens/\(role)/rotate")
        print(try result.decode(JoinTokenResponse.self).token)
    }
}

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Tasks.", discussion: "Example: shoalctl task ls",
        subcommands: [TaskList.self])
}

struct TaskList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List every task.", discussion: "Example: shoalctl task ls --format json"
    )
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let api = try manager.api()
        try TaskTable.show(try await api.tasks(), nodes: try await api.nodes(), output)
    }
}

/// Saves where the manager is, so later commands need no flags.
struct ContextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context", abstract: "Save or show where the manager is.",
        discussion: "Example: shoalctl context set --socket /var/lib/shoal/run/shoald.sock",
        subcommands: [ContextSet.self, ContextShow.self])
}

struct ContextSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Save --socket, or --manager with --cert-dir, to the context file.",
        discussion: "Example: shoalctl context set --socket /var/lib/shoal/run/shoald.sock")
    @Option(help: "The manager's admin unix socket") var socket: String?
    @Option(help: "The manager's API address, ADDR:PORT") var manager: String?
    @Option(help: "Directory with the admin certificate") var certDir: String?

    func run() async throws {
        guard socket != nil || (manager != nil && certDir != nil) else {
            throw CtlError("give --socket PATH, or --manager ADDR:PORT with --cert-dir DIR")
        }
        let path = ConnectionSettings.contextPath(environment: ProcessInfo.processInfo.environment)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(ConnectionSettings(socket: socket, manager: manager, certDir: certDir))
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        print(path)
    }
}

struct ContextShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the connection settings in effect and where they come from.",
        discussion: "Example: shoalctl context show")
    @OptionGroup var manager: ManagerOptions

    func run() async throws { print(try Output.json(try manager.settings())) }
}

/// Any API call, for scripts: `shoalctl api GET /v1/info`.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Call any API route; prints the body.",
        discussion: "Example: shoalctl api GET /v1/info")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "GET, POST or DELETE") var method: String
    @Argument var path: String
    @Option(help: "JSON body") var data: String?

    func run() async throws {
        let result = try await manager.api().call(
            HTTPMethod(rawValue: method.uppercased()), path, body: data.map { Array($0.utf8) })
        print(result.text)
    }
}
