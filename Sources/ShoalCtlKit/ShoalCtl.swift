import ArgumentParser

public struct ShoalCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "shoalctl",
        abstract: "Administer a Shoal cluster through the manager's API.",
        discussion: """
            The verbs are Docker Swarm's: shoalctl service create --name web --replicas 3 -p 8080:80 -- http-echo
            The manager is found from --socket / --manager, SHOAL_SOCKET / SHOAL_MANAGER, the context file
            (shoalctl context set) or /var/lib/shoal/run/shoald.sock. See docs/cli.md.
            """,
        subcommands: [
            NodeCommand.self, NetworkCommand.self, ServiceCommand.self, StackCommand.self, TaskCommand.self,
            ClusterCommand.self, ContextCommand.self, APICommand.self,
        ]
    )

    public init() {}

    /// The executable's entry point: parses the arguments and runs the async command.
    public static func start() async { await main() }
}
