import ArgumentParser
import Foundation

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

    /// The executable's entry point: parses the arguments and runs the async command. Only an
    /// argument error is followed by the usage; a runtime error (the manager away, a 4xx/5xx)
    /// prints just what went wrong and what to try.
    public static func start() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error where error is ExitCode || error is CleanExit || error is ValidationError {
            exit(withError: error)
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }
}
