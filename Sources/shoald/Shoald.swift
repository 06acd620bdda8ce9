import ArgumentParser

@main
struct Shoald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoald",
        abstract: "Shoal node daemon: the manager and the per-node networking agent.",
        subcommands: [Version.self, ManagerCommand.self, AgentCommand.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("shoald 0.1.0") }
}
