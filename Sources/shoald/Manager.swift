import ArgumentParser
import Logging
import ShoalCore

/// `shoald manager`: the orchestration core with its embedded store and HTTP API.
struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager",
        abstract: "Run the manager: store, allocator, orchestrator, HTTP API and the agents' state feed."
    )

    @Option(help: "Directory for the embedded store (created if missing).")
    var dataDir: String

    @Option(help: "Address to serve the API on, as ADDR:PORT.")
    var listen: String = "127.0.0.1:2377"

    @Option(help: "Seconds between agent heartbeats; a node is DOWN after 3 missed.")
    var heartbeatPeriod: Double = 5

    func validate() throws {
        guard Self.split(listen) != nil else {
            throw ValidationError("--listen must look like ADDR:PORT, got \(listen)")
        }
    }

    static func split(_ listen: String) -> (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port), colon != listen.startIndex
        else { return nil }
        return (String(listen[..<colon]), port)
    }

    func run() async throws {
        guard let (host, port) = Self.split(listen) else { throw ValidationError("bad --listen \(listen)") }
        let logger = Logger(label: "shoald.manager")
        let store = try SQLiteStore(directory: dataDir)
        var config = ManagerConfig()
        config.orchestrator.heartbeatPeriod = heartbeatPeriod
        let manager = Manager(store: store, config: config)
        try await manager.start()
        let app = ManagerAPI.application(manager: manager, host: host, port: port, logger: logger) { bound in
            logger.info("shoald manager listening on \(host):\(bound), data in \(dataDir)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await manager.run() }
            group.addTask { try await app.runService() }
            // The API ends on SIGINT/SIGTERM; then the reconciler stops too.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
