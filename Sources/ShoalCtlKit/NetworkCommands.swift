import ArgumentParser
import ShoalModel

struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Manage overlay networks.",
        discussion: "Example: shoalctl network create --subnet 10.0.9.0/24 backend",
        subcommands: [NetworkCreate.self, NetworkList.self, NetworkInspect.self, NetworkRemove.self])
}

struct NetworkCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create an overlay network.",
        discussion: "Example: shoalctl network create --subnet 10.0.9.0/24 --attachable backend")
    @OptionGroup var manager: ManagerOptions
    @Option(help: "Subnet in CIDR form (allocated when omitted).") var subnet: String?
    @Option(help: "Gateway address (with --subnet).") var gateway: String?
    @Option(help: "Range tasks and VIPs get their addresses from (inside --subnet).") var ipRange: String?
    @Option(help: "MTU (576-9000).") var mtu: Int?
    @Flag(help: "No egress to the outside world.") var `internal` = false
    @Flag(help: "Standalone tasks may attach (Swarm parity).") var attachable = false
    @Option(help: "A label KEY=VALUE (repeatable).") var label: [String] = []
    @Flag(name: .shortAndLong, help: "Print only the id.") var quiet = false
    @Argument(help: "Network name") var name: String

    func spec() throws -> NetworkSpec {
        func cidr(_ text: String?, _ flag: String) throws -> CIDR? {
            guard let text else { return nil }
            guard let value = CIDR(text) else {
                throw CtlError("\(flag) \(text) is not a CIDR such as 10.0.9.0/24")
            }
            return value
        }
        var gatewayAddress: IPv4Address?
        if let gateway {
            guard let address = IPv4Address(gateway) else {
                throw CtlError("--gateway \(gateway) is not an IPv4 address")
            }
            gatewayAddress = address
        }
        let labels = try ServiceFlags.labels(label, flag: "--label")
        return NetworkSpec(
            name: name, subnet: try cidr(subnet, "--subnet"), gateway: gatewayAddress,
            ipRange: try cidr(ipRange, "--ip-range"), mtu: mtu, attachable: attachable ? true : nil,
            internal: `internal` ? true : nil, labels: labels.isEmpty ? nil : labels)
    }

    func run() async throws {
        let network = try await manager.api().send(.POST, "/v1/networks", try spec(), as: Network.self)
        print(
            quiet ? network.id : "\(network.name) \(network.id) vni \(network.vni) subnet \(network.subnet)")
    }
}

struct NetworkList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List networks.", discussion: "Example: shoalctl network ls -q")
    @OptionGroup var manager: ManagerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try Output.list(
            try await manager.api().networks(), output, id: \.id,
            header: ["ID", "NAME", "VNI", "SUBNET", "GATEWAY", "FLAGS"]
        ) { network in
            let flags = [
                network.ingress ? "ingress" : nil, network.internal ? "internal" : nil,
                network.attachable ? "attachable" : nil,
            ].compactMap { $0 }
            return [
                network.id, network.name, "\(network.vni)", "\(network.subnet)", "\(network.gateway)",
                flags.joined(separator: ","),
            ]
        }
    }
}

struct NetworkInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show networks as JSON.",
        discussion: "Example: shoalctl network inspect backend")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "Network ids or names") var networks: [String]

    func run() async throws {
        print(try await manager.api().inspect(Network.self, "networks", networks))
    }
}

struct NetworkRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove networks no service uses.",
        discussion: "Example: shoalctl network rm backend")
    @OptionGroup var manager: ManagerOptions
    @Argument(help: "Network ids or names") var networks: [String]

    func run() async throws {
        try await manager.api().remove("networks", networks)
    }
}
