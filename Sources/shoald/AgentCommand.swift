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

    @Option(
        help:
            "This node's underlay IPv4 address (default: the address the manager sees this node connect from)."
    )
    var advertiseAddr: String?

    @Option(help: "Node name (default: the host name).")
    var name: String?

    @Option(help: "Seconds between renewal checks.")
    var renewalCheck: Double = 60

    // On by default, as a Swarm node programs its network; --no-data-plane keeps only the control plane.
    @Flag(
        inversion: .prefixedNo,
        help: "Program the overlay and run tasks (needs root): the node's data plane.")
    var dataPlane = true

    @Option(help: "Run directory for namespace bind mounts and the admin socket (default DATA_DIR/run).")
    var runDir: String?

    @Option(help: "UDP port of the VXLAN tunnels.")
    var vxlanPort: UInt16 = 4789

    @Option(help: "Seconds between full resyncs of the kernel state (drift repair).")
    var resync: Double = 30

    @Option(help: "Seconds a stopping task gets after SIGTERM before SIGKILL.")
    var stopGrace: Double = 10

    @Option(help: "Seconds before a replacement task starts in the slot of one that ended.")
    var restartDelay: Double = 2

    @Option(help: "Seconds a removed task's IPVS destination keeps its open connections (weight 0).")
    var drainGrace: Double = 10

    @Option(help: "Seconds without a feed line before reconnecting.")
    var feedWatchdog: Double = 30

    @Flag(inversion: .prefixedNo, help: "Serve DNS at 127.0.0.11:53 inside every task (docs/dns.md).")
    var dns = true

    @Option(
        help: ArgumentHelp(
            "Upstream resolver for names that are not Shoal's (IP or IP:PORT; repeatable).",
            discussion: "Default: the nameservers of --dns-resolv-conf."))
    var dnsUpstream: [String] = []

    @Option(help: "The node's resolv.conf, read for upstreams when no --dns-upstream is given.")
    var dnsResolvConf = "/etc/resolv.conf"

    @Option(help: "Milliseconds one upstream has to answer before the next is asked.")
    var dnsTimeoutMs: Int64 = 2000

    @Option(help: "Forwarded questions waiting upstream at once; more get SERVFAIL at once.")
    var dnsMaxInFlight = 4096

    func run() async throws {
        var address = IPv4Address(0)
        if let advertiseAddr {
            guard let given = IPv4Address(advertiseAddr), given.value != 0 else {
                throw ValidationError("--advertise-addr must be an IPv4 address, got \(advertiseAddr)")
            }
            address = given
        }
        var configuration = Agent.Configuration(
            dataDir: dataDir, joinAddress: join, token: token,
            name: name ?? ProcessInfo.processInfo.hostName, address: address)
        configuration.renewalCheckSeconds = renewalCheck
        configuration.feedWatchdogSeconds = feedWatchdog
        if dataPlane {
            var options = Agent.DataPlaneOptions(runDir: runDir ?? dataDir + "/run")
            options.vxlanPort = vxlanPort
            options.reconcile.resyncSeconds = resync
            options.tasks.stopGrace = stopGrace
            options.tasks.restartDelay = restartDelay
            options.dns = dns ? dnsSettings() : nil
            options.drainGrace = drainGrace
            configuration.dataPlane = options
        }
        let agent = Agent(configuration: configuration)
        do {
            try await agent.run()
        } catch let error as JoinError {
            throw RuntimeFailure(error.description)
        } catch let error as DataPlaneError {
            throw RuntimeFailure(error.description)
        }
    }

    func validate() throws {
        guard dnsTimeoutMs > 0 else { throw ValidationError("--dns-timeout-ms must be more than 0") }
        guard dnsMaxInFlight > 0 else { throw ValidationError("--dns-max-in-flight must be more than 0") }
    }

    func dnsSettings() -> TaskDNS.Settings {
        var settings = TaskDNS.Settings()
        settings.upstreams = dnsUpstream
        settings.resolvConf = dnsResolvConf
        settings.timeoutMilliseconds = dnsTimeoutMs
        settings.maxInFlight = dnsMaxInFlight
        return settings
    }
}
