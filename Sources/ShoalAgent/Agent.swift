import Foundation
import Logging
import NIOPosix
import ShoalModel
import ShoalPKI
import Synchronization

/// The node agent's control-plane side: join (or reuse saved credentials), register, heartbeat,
/// follow the feed (resuming with `since`), renew the certificate before it expires; with a data
/// plane configured, turn the feed into the node's overlay, task namespaces and running tasks.
public actor Agent {
    public struct Configuration: Sendable {
        public var dataDir: String
        public var joinAddress: String?
        public var token: String?
        public var name: String
        /// The underlay address to declare; 0.0.0.0 declares none and the manager takes the address
        /// it sees on the connection (the reply tells the agent which).
        public var address: IPv4Address
        public var renewalCheckSeconds: Double = 60
        /// No line for this long (3 keep-alive periods) means the stream is dead: reconnect.
        public var feedWatchdogSeconds: Double = 30
        /// Nil: control plane only (join, heartbeats, feed), as in the security tests.
        public var dataPlane: DataPlaneOptions?

        public init(dataDir: String, joinAddress: String?, token: String?, name: String, address: IPv4Address)
        {
            self.dataDir = dataDir
            self.joinAddress = joinAddress
            self.token = token
            self.name = name
            self.address = address
        }
    }

    /// Where the data plane keeps its namespaces and how it behaves.
    public struct DataPlaneOptions: Sendable {
        /// Namespace bind mounts (`netns/`) and the admin socket (`agent.sock`).
        public var runDir: String
        public var vxlanPort: UInt16 = 4789
        public var reconcile = DataPlane.Settings()
        public var tasks = TaskSupervisor.Settings()
        /// 127.0.0.11 in every task; nil: none.
        public var dns: TaskDNS.Settings? = TaskDNS.Settings()
        /// Seconds a removed task's IPVS destination may keep its connections (at weight 0).
        public var drainGrace: Double = 10

        public init(runDir: String) { self.runDir = runDir }
    }

    /// What the agent did, for logs and tests.
    public struct Status: Sendable {
        public var joined = false
        public var reusedCredentials = false
        public var feedConnections = 0
        public var feedMessages = 0
        /// COMPLETE views received: one per start; a resume against the same store gets none.
        public var feedCompletes = 0
        public var feedReconnects: [String] = []
        public var lastRevision: UInt64?
        public var renewals = 0
        public var serial = ""
        /// Requests the manager refused (401/403, certificate alerts), and the last answer.
        public var refusedAttempts = 0
        public var refusal: String?
    }

    nonisolated public let configuration: Configuration
    private let logger: Logger
    private var client: ControlPlaneClient?
    /// The underlay address the manager registered this node with (its VXLAN source address).
    private var registeredAddress: IPv4Address?
    private var follower = FeedFollower()
    private var refusal = ManagerRefusal()
    public private(set) var dataPlane: DataPlane?
    private var admin: AdminServer?
    public private(set) var status = Status()

    public init(configuration: Configuration, logger: Logger = Logger(label: "shoald.agent")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Loads saved credentials or joins with the token, then registers.
    @discardableResult
    public func start() async throws -> ControlPlaneClient {
        let credentials: NodeCredentials
        let managerAddress: String
        var saved = try Joiner.saved(dataDir: configuration.dataDir)
        if let expired = saved?.credentials, expired.identity.notValidAfter <= Date() {
            // An expired certificate cannot renew: only a token can bring the node back.
            guard configuration.token != nil else {
                throw JoinError.credentials(
                    .malformed(
                        path: configuration.dataDir,
                        reason:
                            "the certificate of node \(expired.identity.nodeID) expired at \(expired.identity.notValidAfter); join again with --join and --token"
                    ))
            }
            logger.warning("the saved certificate expired; joining again with the token")
            saved = nil
        }
        if let saved {
            (credentials, managerAddress) = saved
            status.reusedCredentials = true
            logger.info(
                "reusing the certificate of node \(credentials.identity.nodeID) from \(configuration.dataDir)"
            )
        } else {
            guard let joinAddress = configuration.joinAddress, let token = configuration.token else {
                throw JoinError.manager(.connect("not joined yet: pass --join ADDR:PORT and --token"))
            }
            (credentials, managerAddress) = try await Joiner.join(
                joinAddress: joinAddress, token: token, dataDir: configuration.dataDir)
            status.joined = true
            logger.info("joined as \(credentials.identity)")
        }
        let client = try ControlPlaneClient(credentials: credentials, managerAddress: managerAddress)
        self.client = client
        status.serial = credentials.identity.serial
        registeredAddress = try await client.register(
            name: configuration.name, address: configuration.address
        ).address
        return client
    }

    public var currentClient: ControlPlaneClient? { client }

    /// Runs heartbeats, the feed and renewal until cancelled.
    public func run() async throws {
        let client = try await start()
        let dataPlane = try await makeDataPlane(nodeID: client.nodeID)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeatLoop(period: 5) }
            group.addTask { await self.feedLoop() }
            group.addTask { await self.renewalLoop() }
            if let dataPlane {
                group.addTask { await dataPlane.run() }
                group.addTask { await self.logLoop() }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    public func heartbeatLoop(period initial: Double) async {
        var period = initial
        while !Task.isCancelled {
            await waitWhileRefused()
            guard let client else { return }
            do {
                period = try await client.heartbeat().periodSeconds
                accepted()
            } catch {
                if let reason = ManagerRefusal.reason(of: error) {
                    refused("heartbeat: \(reason)")
                    continue
                }
                logger.warning("heartbeat failed: \(error)")
            }
            try? await Task.sleep(for: .seconds(period))
        }
    }

    func makeDataPlane(nodeID: String) async throws -> DataPlane? {
        guard let options = configuration.dataPlane else { return nil }
        let files = NamespaceFiles(runDirectory: options.runDir)
        try files.prepare()
        let dns: TaskDNS? =
            if let settings = options.dns {
                try await TaskDNS(
                    settings: settings, files: files, group: MultiThreadedEventLoopGroup.singleton)
            } else { nil }
        if let dns { logger.info("dns: 127.0.0.11 in every task, upstreams \(dns.upstreams)") }
        let config = OverlayConfig(local: registeredAddress ?? configuration.address, port: options.vxlanPort)
        let supervisor = TaskSupervisor(
            dataDir: configuration.dataDir, namespaces: files, settings: options.tasks,
            report: { id, state, message in await self.report(id, state: state, message: message) })
        let health = HealthMonitor(
            namespaces: files, report: { id, health, message in await self.reportHealth(id, health, message) }
        )
        let mesh = await makeMesh(files: files)
        let dataPlane = DataPlane(
            nodeID: nodeID, kernel: NetlinkOverlayKernel(files: files, config: config),
            supervisor: supervisor,
            config: config, settings: options.reconcile, health: health, dns: dns, mesh: mesh, logger: logger)
        admin = try AdminServer(
            path: options.runDir + "/agent.sock",
            routes: [
                "/v1/state": { AdminServer.blocking { await dataPlane.snapshotJSON() } },
                "/v1/programmed": { AdminServer.blocking { await dataPlane.programmedJSON() } },
                "/v1/timeline": { AdminServer.blocking { dataPlane.timeline.json() } },
                "/v1/dns": { AdminServer.blocking { await dns?.statusJSON() ?? Array("{}".utf8) } },
                "/v1/mesh": { AdminServer.blocking { await mesh?.snapshotJSON() ?? Array("{}".utf8) } },
                "/v1/mesh/programmed": {
                    AdminServer.blocking { await mesh?.programmedJSON() ?? Array("{}".utf8) }
                },
            ])
        self.dataPlane = dataPlane
        return dataPlane
    }

    /// The mesh needs IPVS: without it (this host's kernel, say) VIPs and published ports are off,
    /// and the log says so once.
    func makeMesh(files: NamespaceFiles) async -> MeshReconciler? {
        guard let options = configuration.dataPlane else { return nil }
        guard await NetlinkMeshKernel.available() else {
            logger.warning("this kernel has no IPVS: service VIPs and published ports are off")
            return nil
        }
        return MeshReconciler(kernel: NetlinkMeshKernel(files: files), graceSeconds: options.drainGrace)
    }

    /// Task states go to the manager in the background, retried while it is away, so the data
    /// plane never waits on the network.
    func report(_ taskID: String, state: TaskState, message: String?) {
        logger.info("task \(taskID) \(state.rawValue)\(message.map { ": \($0)" } ?? "")")
        Task {
            for attempt in 0..<20 {
                guard let client = self.client else { return }
                do {
                    _ = try await client.reportTask(taskID, state: state, message: message)
                    if state == .running { self.dataPlane?.timeline.mark("task/\(taskID)", "acked") }
                    return
                } catch ClientError.http(let status, _) where (400..<500).contains(status) {
                    return  // the manager has forgotten the task: nothing to retry
                } catch {
                    try? await Task.sleep(for: .seconds(FeedFollower.backoff(attempt: attempt)))
                }
            }
        }
    }

    /// A health change of a running task; true once the manager has it (or has forgotten the task).
    func reportHealth(_ taskID: String, _ health: TaskHealth, _ message: String?) async -> Bool {
        logger.info("task \(taskID) \(health.rawValue)\(message.map { ": \($0)" } ?? "")")
        guard let client else { return false }
        do {
            _ = try await client.reportTask(taskID, state: .running, message: message, health: health)
            return true
        } catch ClientError.http(let status, _) where (400..<500).contains(status) {
            return true
        } catch {
            return false
        }
    }

    /// Holds the manager's log subscription stream and serves each subscription from the task log
    /// files (`TaskLogShipper`); reconnects after a backoff when the stream ends.
    func logLoop() async {
        var attempt = 0
        while !Task.isCancelled {
            await waitWhileRefused()
            guard let client else { return }
            let shipper = TaskLogShipper(
                dataDir: configuration.dataDir, nodeName: configuration.name,
                post: { subscription, chunk in
                    guard let body = try? JSONEncoder().encode(chunk),
                        let result = try? await client.http.request(
                            .POST, "/v1/nodes/\(client.nodeID)/logs/\(subscription)", body: Array(body))
                    else { return false }
                    return (200..<300).contains(result.status)
                })
            let started = Date()
            let reason: String
            do {
                let status = try await client.http.stream("/v1/nodes/\(client.nodeID)/logs") { line in
                    guard
                        let subscription = try? JSONDecoder().decode(
                            LogSubscription.self, from: Data(line.utf8))
                    else { return }
                    Task { await shipper.serve(subscription) }
                }
                reason = "HTTP \(status)"
                if let refusal = ManagerRefusal.reason(status: status) { refused("log stream: \(refusal)") }
            } catch {
                reason = "\(error)"
                if let refusal = ManagerRefusal.reason(of: error) { refused("log stream: \(refusal)") }
            }
            logger.info("log subscription stream ended (\(reason)); reconnecting")
            attempt = Date().timeIntervalSince(started) > 10 ? 0 : attempt + 1
            try? await Task.sleep(for: .seconds(FeedFollower.backoff(attempt: attempt)))
        }
    }

    /// Follows the feed. A gap, an undecodable line or a silent stream drops the connection; the
    /// agent reconnects with `since` after a jittered backoff while the data plane keeps the last
    /// state it was given.
    public func feedLoop() async {
        var attempt = 0
        while !Task.isCancelled {
            await waitWhileRefused()
            guard let client else { return }
            status.feedConnections += 1
            let messagesBefore = status.feedMessages
            let reason = await followOnce(client)
            logger.info("\(reason); reconnecting")
            status.feedReconnects.append(reason)
            if status.feedReconnects.count > 20 { status.feedReconnects.removeFirst() }
            attempt = status.feedMessages > messagesBefore ? 0 : attempt + 1
            try? await Task.sleep(for: .seconds(FeedFollower.backoff(attempt: attempt)))
        }
    }

    /// One connection: returns why it ended.
    func followOnce(_ client: ControlPlaneClient) async -> String {
        let session = FeedSession()
        // since and the store's identity: another store's history gets a COMPLETE, not a wrong INCREMENTAL.
        let path = "/v1/nodes/\(client.nodeID)/feed" + (follower.view.resumeQuery.map { "?\($0)" } ?? "")
        let watchdog = configuration.feedWatchdogSeconds
        return await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    let code = try await client.http.stream(path) { line in
                        guard session.touch() else { return }
                        await self.received(line: line, session: session)
                    }
                    if let refusal = ManagerRefusal.reason(status: code) {
                        await self.refused("feed: \(refusal)")
                    }
                    return "feed ended (HTTP \(code))"
                } catch {
                    if let refusal = ManagerRefusal.reason(of: error) {
                        await self.refused("feed: \(refusal)")
                    }
                    return "feed failed: \(error)"
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    if let reason = session.check(silentFor: watchdog) { return reason }
                }
                return "feed stopped"
            }
            let reason = await group.next() ?? "feed stopped"
            session.abort(reason)
            group.cancelAll()
            return reason
        }
    }

    func received(line: String, session: FeedSession) async {
        status.feedMessages += 1
        switch follower.handle(line: line) {
        case .changed(let complete):
            status.lastRevision = follower.since
            if complete {
                status.feedCompletes += 1
                logger.info(
                    "feed COMPLETE at revision \(follower.since ?? 0), \(follower.view.objects.count) objects"
                )
            } else {
                logger.info("feed INCREMENTAL to revision \(follower.since ?? 0)")
            }
            await dataPlane?.update(
                view: follower.view.objects, revision: follower.since, changed: follower.changedKeys)
        case .alive:
            break
        case .reconnect(let reason):
            session.abort(reason)
        }
    }

    /// A refusal holds every loop (`ManagerRefusal`); the first of each hold is logged with its reason.
    func refused(_ reason: String) {
        status.refusedAttempts += 1
        status.refusal = reason
        guard let hold = refusal.refused(reason) else { return }
        logger.error(
            "the manager refuses this node's certificate (\(reason)); it was probably revoked (shoalctl node rm). Next attempt in \(Int(hold)) s"
        )
    }

    func accepted() {
        if refusal.consecutive > 0 { logger.notice("the manager accepts this node's certificate again") }
        refusal.accepted()
    }

    func waitWhileRefused() async {
        while !Task.isCancelled, refusal.remaining() > 0 {
            try? await Task.sleep(for: .seconds(refusal.remaining()))
        }
    }

    /// Renews when less than a third of the validity is left. The open feed keeps its connection;
    /// new connections use the new certificate.
    public func renewalLoop() async {
        while !Task.isCancelled {
            try? await renewIfNeeded()
            try? await Task.sleep(for: .seconds(configuration.renewalCheckSeconds))
        }
    }

    public func renewIfNeeded(now: Date = Date()) async throws {
        guard let client, client.credentials.needsRenewal(now: now) else { return }
        do {
            let renewed = try await client.renew()
            try renewed.save(to: configuration.dataDir)
            self.client = try ControlPlaneClient(credentials: renewed, managerAddress: client.managerAddress)
            status.renewals += 1
            status.serial = renewed.identity.serial
            logger.info("renewed the certificate; valid until \(renewed.identity.notValidAfter)")
        } catch {
            logger.warning("certificate renewal failed: \(error)")
            throw error
        }
    }
}

/// One feed connection's liveness: when the last line came, and whether it was abandoned.
final class FeedSession: Sendable {
    private let state = Mutex<(last: Date, abort: String?)>((Date(), nil))

    /// Records a line; false once the session was abandoned (its late lines are ignored).
    func touch() -> Bool {
        state.withLock { state in
            state.last = Date()
            return state.abort == nil
        }
    }

    func abort(_ reason: String) {
        state.withLock { state in
            if state.abort == nil { state.abort = reason }
        }
    }

    func check(silentFor limit: Double) -> String? {
        state.withLock { state in
            if let reason = state.abort { return reason }
            if Date().timeIntervalSince(state.last) > limit {
                return "feed silent for \(Int(limit)) s (watchdog)"
            }
            return nil
        }
    }
}
