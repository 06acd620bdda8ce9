import Foundation
import Logging
import ShoalModel
import ShoalPKI
import Synchronization

/// The node agent's control-plane side: join (or reuse saved credentials), register, heartbeat,
/// follow the feed (resuming with `since`), renew the certificate before it expires. The kernel
/// reconcilers that consume the feed come with a later issue.
public actor Agent {
    public struct Configuration: Sendable {
        public var dataDir: String
        public var joinAddress: String?
        public var token: String?
        public var name: String
        public var address: IPv4Address
        public var renewalCheckSeconds: Double = 60

        public init(dataDir: String, joinAddress: String?, token: String?, name: String, address: IPv4Address)
        {
            self.dataDir = dataDir
            self.joinAddress = joinAddress
            self.token = token
            self.name = name
            self.address = address
        }
    }

    /// What the agent did, for logs and tests.
    public struct Status: Sendable {
        public var joined = false
        public var reusedCredentials = false
        public var feedConnections = 0
        public var feedMessages = 0
        public var lastRevision: UInt64?
        public var renewals = 0
        public var serial = ""
    }

    nonisolated public let configuration: Configuration
    private let logger: Logger
    private var client: ControlPlaneClient?
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
        _ = try await client.register(name: configuration.name, address: configuration.address)
        return client
    }

    public var currentClient: ControlPlaneClient? { client }

    /// Runs heartbeats, the feed and renewal until cancelled.
    public func run() async throws {
        let client = try await start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeatLoop(period: 5) }
            group.addTask { await self.feedLoop() }
            group.addTask { await self.renewalLoop() }
            _ = client
            try await group.next()
            group.cancelAll()
        }
    }

    func heartbeatLoop(period initial: Double) async {
        var period = initial
        while !Task.isCancelled {
            guard let client else { return }
            do {
                period = try await client.heartbeat().periodSeconds
            } catch {
                logger.warning("heartbeat failed: \(error)")
            }
            try? await Task.sleep(for: .seconds(period))
        }
    }

    /// Follows the feed; after the stream ends it reconnects and resumes after the last revision.
    public func feedLoop() async {
        while !Task.isCancelled {
            guard let client else { return }
            status.feedConnections += 1
            do {
                let code = try await client.feed(since: status.lastRevision) { message in
                    await self.received(message)
                }
                logger.info("feed ended (HTTP \(code)); reconnecting")
            } catch {
                logger.warning("feed failed: \(error)")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func received(_ message: FeedMessage) {
        status.feedMessages += 1
        switch message.type {
        case .complete:
            status.lastRevision = message.revision
            logger.info(
                "feed COMPLETE at revision \(message.revision ?? 0), \(message.objects?.count ?? 0) objects")
        case .incremental:
            status.lastRevision = message.to
            logger.info(
                "feed INCREMENTAL \(message.from ?? 0) -> \(message.to ?? 0), \(message.changes?.count ?? 0) changes"
            )
        case .keepalive:
            break
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
