import ArgumentParser
import Foundation
import Logging
import ShoalCore
import ShoalPKI

/// `shoald manager`: `init` creates the cluster's PKI; `run` (the default) serves it.
struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager",
        abstract: "The manager: store, allocator, orchestrator, HTTP API and the agents' state feed.",
        subcommands: [ManagerInit.self, ManagerRun.self],
        defaultSubcommand: ManagerRun.self
    )

    static func split(_ listen: String) -> (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port), colon != listen.startIndex
        else { return nil }
        return (String(listen[..<colon]), port)
    }
}

/// `shoald manager init`: root CA, the manager's certificate, the admin certificate, two join tokens.
struct ManagerInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the cluster CA, certificates and join tokens, and print the join command.")

    @Option(help: "Directory for the store and the PKI (created if missing).")
    var dataDir: String

    @Option(help: "The IP address nodes reach this manager at (written into its certificate).")
    var advertiseAddr: String

    @Option(help: "Port of the join listener, for the printed join command.")
    var joinPort: Int = 2378

    func run() async throws {
        do {
            let tokens = try ClusterSecurity.initialize(dataDir: dataDir, advertiseAddress: advertiseAddr)
            print(
                """
                Cluster initialized in \(dataDir).
                Admin certificate for shoalctl: \(ClusterSecurity.adminDirectory(dataDir))

                To add a worker to this cluster, run on the node:

                    shoald agent --data-dir /var/lib/shoal --join \(advertiseAddr):\(joinPort) --token \(tokens.worker)

                To add a manager, use this token instead: \(tokens.manager)
                """)
        } catch {
            throw RuntimeFailure(error.description)
        }
    }
}

/// `shoald manager [run]`: serves the API over mutual TLS (or plain HTTP with `--insecure-dev`).
struct ManagerRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the manager.")

    @Option(help: "Directory for the embedded store and the PKI (`shoald manager init` first).")
    var dataDir: String

    @Option(help: "Address of the mutual TLS API, as ADDR:PORT.")
    var listen: String = "127.0.0.1:2377"

    @Option(help: "Address of the join listener (TLS, no client certificate), as ADDR:PORT.")
    var joinListen: String = "127.0.0.1:2378"

    @Option(help: "Seconds between agent heartbeats; a node is DOWN after 3 missed.")
    var heartbeatPeriod: Double = 5

    @Option(
        help:
            "Seconds a task leaving a service (scale down, update, drained node) stays in its VIPs at weight 0, taking no new connections, before it is told to stop."
    )
    var drainPeriod: Double = 2

    @Option(help: "Validity of issued node certificates, in seconds (default 90 days).")
    var certificateValidity: Double = ClusterCA.defaultNodeValidity

    @Flag(
        help:
            "Accept the underlay address an agent declares even when it connects from another (NAT, a separate management network)."
    )
    var trustNodeAddresses = false

    @Option(help: "Seconds open requests get after SIGTERM/SIGINT before the manager exits anyway.")
    var stopTimeout: Double = 2

    @Flag(help: "DEVELOPMENT ONLY: plain HTTP with no authentication at all.")
    var insecureDev = false

    func validate() throws {
        guard ManagerCommand.split(listen) != nil else {
            throw ValidationError("--listen must look like ADDR:PORT, got \(listen)")
        }
        guard ManagerCommand.split(joinListen) != nil else {
            throw ValidationError("--join-listen must look like ADDR:PORT, got \(joinListen)")
        }
        guard drainPeriod.isFinite, drainPeriod >= 0, drainPeriod <= 3600 else {
            throw ValidationError("--drain-period must be between 0 and 3600 seconds, got \(drainPeriod)")
        }
    }

    func run() async throws {
        guard let (host, port) = ManagerCommand.split(listen),
            let (joinHost, joinPort) = ManagerCommand.split(joinListen)
        else { throw ValidationError("bad --listen \(listen)") }
        let logger = Logger(label: "shoald.manager")
        // Held until the process ends: a second manager on this directory stops here.
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: dataDir)
        } catch {
            throw RuntimeFailure(error.description)
        }
        var loaded: ClusterSecurity?
        if !insecureDev {
            do {
                loaded = try ClusterSecurity(dataDir: dataDir, nodeValidity: certificateValidity)
            } catch {
                throw RuntimeFailure(error.description)
            }
        }
        let store: SQLiteStore
        do {
            store = try SQLiteStore(directory: dataDir)
        } catch {
            throw RuntimeFailure("cannot open the store in \(dataDir): \(error)")
        }
        var config = ManagerConfig()
        config.orchestrator.heartbeatPeriod = heartbeatPeriod
        config.orchestrator.drainSeconds = drainPeriod
        config.trustDeclaredNodeAddresses = trustNodeAddresses
        let manager = Manager(store: store, config: config)
        try await manager.start()
        // Connections are capped below the descriptor limit; raise it first, as dockerd does.
        let descriptors = ConnectionLimits.raiseDescriptorLimit()
        logger.info("file descriptor limit \(descriptors)")
        let dataDir = dataDir
        let insecureDev = insecureDev
        let security = loaded
        let work = Task {
            try await serve(
                manager: manager, security: security, host: host, port: port, joinHost: joinHost,
                joinPort: joinPort, dataDir: dataDir, insecureDev: insecureDev, logger: logger)
        }
        let signals = StopSignals(drainSeconds: stopTimeout, logger: logger) { work.cancel() }
        defer { withExtendedLifetime(signals) {} }
        do {
            try await work.value
        } catch is CancellationError {
        }
        logger.info("shoald manager stopped")
        withExtendedLifetime(lock) {}
    }

    /// The listeners and the reconcile loop, until cancelled (a stop signal) or one of them fails.
    private func serve(
        manager: Manager, security: ClusterSecurity?, host: String, port: Int, joinHost: String,
        joinPort: Int,
        dataDir: String, insecureDev: Bool, logger: Logger
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await manager.run() }
            if let security {
                let server = SecureManagerServer(
                    manager: manager, security: security, apiHost: host, apiPort: port, joinHost: joinHost,
                    joinPort: joinPort, logger: logger)
                group.addTask {
                    try await server.run { endpoints in
                        logger.info(
                            "shoald manager listening on \(host):\(endpoints.apiPort) (mutual TLS), join on \(joinHost):\(endpoints.joinPort), admin socket \(endpoints.socketPath), data in \(dataDir)"
                        )
                    }
                }
            } else {
                let app = ManagerAPI.application(manager: manager, host: host, port: port, logger: logger) {
                    bound in
                    logger.info("shoald manager listening on \(host):\(bound), data in \(dataDir)")
                }
                group.addTask { try await GracefulServers.run([app], logger: logger) }
                group.addTask {
                    // Loud, and repeated: nothing on this API is authenticated.
                    while !Task.isCancelled {
                        logger.critical(
                            "--insecure-dev: the manager API is PLAIN HTTP WITHOUT AUTHENTICATION; never use this outside tests"
                        )
                        try await Task.sleep(for: .seconds(60))
                    }
                }
            }
            // The API ends on SIGINT/SIGTERM (or an error); then the reconciler stops too.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
