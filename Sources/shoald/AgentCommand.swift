import ArgumentParser
import Foundation
import Logging
import ShoalAgent
import ShoalModel

/// `shoald agent`: joins with a token (or reuses its saved certificate) and keeps the control plane
/// connection: register, heartbeats, feed, certificate renewal.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run the node agent (join, heartbeats, feed, renewal).")

    @Option(help: "Directory for the node's key, certificate and state.")
    var dataDir: String

    @Option(help: "The manager's join address, ADDR:PORT (first start only).")
    var join: String?

    @Option(help: "The join token printed by `shoald manager init` (first start only).")
    var token: String?

    @Option(help: "This node's underlay IPv4 address.")
    var advertiseAddr: String = "127.0.0.1"

    @Option(help: "Node name (default: the host name).")
    var name: String?

    @Option(help: "Seconds between renewal checks.")
    var renewalCheck: Double = 60

    func run() async throws {
        guard let address = IPv4Address(advertiseAddr) else {
            throw ValidationError("--advertise-addr must be an IPv4 address, got \(advertiseAddr)")
        }
        var configuration = Agent.Configuration(
            dataDir: dataDir, joinAddress: join, token: token,
            name: name ?? ProcessInfo.processInfo.hostName, address: address)
        configuration.renewalCheckSeconds = renewalCheck
        let agent = Agent(configuration: configuration)
        do {
            try await agent.run()
        } catch let error as JoinError {
            throw ValidationError(error.description)
        }
    }
}
