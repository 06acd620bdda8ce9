import ArgumentParser
import Foundation
import NIOHTTP1
import ShoalAgent
import ShoalModel
import ShoalPKI

@main
struct ShoalCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoalctl",
        abstract: "Administer a Shoal cluster through the manager's API.",
        subcommands: [
            ClusterCommand.self, NodeCommand.self, NetworkCommand.self, ServiceCommand.self,
            TaskCommand.self, APICommand.self,
        ]
    )
}

/// How to reach the manager: the admin certificate over mutual TLS, or the local unix socket.
struct ManagerOptions: ParsableArguments {
    @Option(help: "The manager's API address, ADDR:PORT (with --cert-dir).")
    var manager: String?

    @Option(
        help: "Directory with the admin certificate written by `shoald manager init` (<data dir>/pki/admin).")
    var certDir: String?

    @Option(help: "The manager's admin unix socket (<data dir>/run/shoald.sock).")
    var socket: String?

    @Flag(help: "DEVELOPMENT ONLY: plain HTTP to a manager started with --insecure-dev.")
    var insecureDev = false

    func client() throws -> HTTPClient {
        if let socket { return HTTPClient(.unixSocket(path: socket)) }
        guard let manager, let (host, port) = Address.split(manager) else {
            throw ValidationError("pass --socket PATH, or --manager ADDR:PORT with --cert-dir DIR")
        }
        if insecureDev {
            FileHandle.standardError.write(
                Data("shoalctl: WARNING: --insecure-dev, plain HTTP without authentication\n".utf8))
            return HTTPClient(.plain(host: host, port: port))
        }
        guard let certDir else {
            throw ValidationError("--manager needs --cert-dir with the admin certificate")
        }
        guard let credentials = try NodeCredentials.load(from: certDir) else {
            throw ValidationError("no admin certificate in \(certDir)")
        }
        let tls = try MutualTLSClient(credentials: credentials, managerAddress: host)
        return HTTPClient(.tls(host: host, port: port, handler: { try tls.makeHandler() }))
    }

    /// Calls the API, prints the body (or `transform` of it), and fails with the manager's reason.
    func call(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws -> HTTPResult {
        let result = try await client().request(method, path, body: body)
        do {
            try result.check()
        } catch {
            throw ValidationError(error.description)
        }
        return result
    }
}

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", subcommands: [JoinTokenCommand.self, RotateTokenCommand.self])
}

struct JoinTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-token", abstract: "Print a join token.")
    @OptionGroup var options: ManagerOptions
    @Argument(help: "worker or manager") var role: String

    func run() async throws {
        let result = try await options.call(.GET, "/v1/cluster/tokens/\(role)")
        print(try result.decode(JoinTokenResponse.self).token)
    }
}

struct RotateTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-token", abstract: "Replace a join token; the old one stops working.")
    @OptionGroup var options: ManagerOptions
    @Argument(help: "worker or manager") var role: String

    func run() async throws {
        let result = try await options.call(.POST, "/v1/cluster/tokens/\(role)/rotate")
        print(try result.decode(JoinTokenResponse.self).token)
    }
}

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", subcommands: [NodeList.self, NodeRemove.self])
}

struct NodeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List nodes.")
    @OptionGroup var options: ManagerOptions

    func run() async throws {
        let nodes = try await options.call(.GET, "/v1/nodes").decode([Node].self)
        print("ID                                NAME            ROLE     STATE")
        for node in nodes {
            print(
                node.id.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + node.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + node.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + node.state.rawValue)
        }
    }
}

struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a node and revoke its certificate.")
    @OptionGroup var options: ManagerOptions
    @Flag(help: "Remove even when the node is not DOWN.") var force = false
    @Argument(help: "Node id or name") var node: String

    func run() async throws {
        _ = try await options.call(.DELETE, "/v1/nodes/\(node)" + (force ? "?force=true" : ""))
        print(node)
    }
}

struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "network", subcommands: [NetworkCreate.self])
}

struct NetworkCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create an overlay network.")
    @OptionGroup var options: ManagerOptions
    @Option(help: "Subnet in CIDR form (allocated when omitted).") var subnet: String?
    @Argument var name: String

    func run() async throws {
        var spec: [String: String] = ["name": name]
        if let subnet { spec["subnet"] = subnet }
        let result = try await options.call(
            .POST, "/v1/networks", body: Array(try JSONEncoder().encode(spec)))
        print(result.text)
    }
}

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", subcommands: [ServiceCreate.self])
}

struct ServiceCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a service from a JSON spec (a file, or - for stdin).")
    @OptionGroup var options: ManagerOptions
    @Argument var file: String

    func run() async throws {
        let data =
            file == "-"
            ? FileHandle.standardInput.readDataToEndOfFile()
            : try Data(contentsOf: URL(fileURLWithPath: file))
        let result = try await options.call(.POST, "/v1/services", body: Array(data))
        print(result.text)
    }
}

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "task", subcommands: [TaskList.self])
}

struct TaskList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tasks (JSON).")
    @OptionGroup var options: ManagerOptions

    func run() async throws {
        print(try await options.call(.GET, "/v1/tasks").text)
    }
}

/// Any API call, for scripts: `shoalctl api GET /v1/info`.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Call any API route; prints the body.")
    @OptionGroup var options: ManagerOptions
    @Argument(help: "GET, POST or DELETE") var method: String
    @Argument var path: String
    @Option(help: "JSON body") var data: String?

    func run() async throws {
        let result = try await options.call(
            HTTPMethod(rawValue: method.uppercased()), path, body: data.map { Array($0.utf8) })
        print(result.text)
    }
}
