import Foundation
import NIOSSL
import ShoalAgent
import ShoalCore
import ShoalModel
import ShoalPKI
import Synchronization
import Testing

final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Issue 5 against the real manager server on loopback: a real TLS client for every case.
@Suite(.serialized) struct SecurityTests {
    static func mode(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return Int(info.st_mode & 0o777)
    }

    static func json(_ value: some Encodable) throws -> [UInt8] { Array(try JSONEncoder().encode(value)) }

    /// The HTTP status of a failed call, or nil when it failed below HTTP (TLS, connection).
    static func status(of error: any Error) -> Int? {
        if case JoinError.manager(.http(let status, _)) = error { return status }
        if case ClientError.http(let status, _) = error { return status }
        return nil
    }

    @Test func joinStoresCredentials0600AndARestartedAgentReusesThem() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let agent = try await cluster.joinedAgent("n1")
        let status = await agent.status
        #expect(status.joined && !status.reusedCredentials)
        let client = try #require(await agent.currentClient)
        let directory = cluster.agentDirectory("n1")
        for file in ["node.key", "node.crt", "ca.crt", "manager.json"] {
            #expect(Self.mode(directory + "/" + file) == 0o600, "\(file)")
        }
        #expect(Self.mode(directory) == 0o700)
        // The node id is the certificate's, registered as a worker.
        let node = try #require(await cluster.state.nodes[client.nodeID])
        #expect(node.name == "n1" && node.role == .worker)
        #expect(client.credentials.identity.role == .worker)
        // Every request is mutual TLS now.
        #expect(try await client.heartbeat().state == .ready)

        // A restart reuses the certificate: no token, no join.
        var configuration = agent.configuration
        configuration.token = nil
        configuration.joinAddress = nil
        let restarted = Agent(configuration: configuration)
        let again = try await restarted.start()
        #expect(await restarted.status.reusedCredentials)
        #expect(again.nodeID == client.nodeID)
        #expect(again.credentials.identity.serial == client.credentials.identity.serial)
        #expect(await cluster.state.nodes.count == 1)
    }

    @Test func wrongTokenIsRefusedAndChangesNothing() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        let good = try JoinToken(parsing: cluster.workerToken)
        let wrong = JoinToken.generate(caDigest: good.caDigest)
        let directory = cluster.agentDirectory("bad")
        await #expect {
            _ = try await Joiner.join(
                joinAddress: cluster.joinAddress, token: wrong.description, dataDir: directory)
        } throws: { error in
            Self.status(of: error) == 401 && "\(error)".contains("invalid join token secret")
        }
        #expect(await cluster.revision() == before)
        #expect(!FileManager.default.fileExists(atPath: directory + "/node.key"))
    }

    @Test func tokenOfAnotherClusterIsRefusedByTheManager() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        let other = try ClusterCA.create()
        let token = JoinToken.generate(caDigest: other.digest)
        // Past the CA pin (a client that pinned the right CA) the manager still refuses it.
        let pinned = try PinnedJoinClient(pinnedCA: cluster.security.ca.certificate)
        let client = HTTPClient(
            .tls(host: "127.0.0.1", port: cluster.endpoints.joinPort, handler: { try pinned.makeHandler() }))
        let csr = try NodeCSR.generate(requestedNodeID: "x")
        let result = try await client.request(
            .POST, "/v1/join", body: try Self.json(JoinRequest(token: token.description, csr: try csr.pem())))
        #expect(result.status == 401)
        #expect(result.text.contains("another cluster"))
        #expect(await cluster.revision() == before)
    }

    @Test func caDigestMismatchStopsTheJoinBeforeAnythingIsSent() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        // A token for another CA: the joining node fetches this manager's CA and refuses to pin it.
        let other = try ClusterCA.create()
        let token = JoinToken.generate(caDigest: other.digest)
        let directory = cluster.agentDirectory("pin")
        await #expect {
            _ = try await Joiner.join(
                joinAddress: cluster.joinAddress, token: token.description, dataDir: directory)
        } throws: { error in
            guard case JoinError.token(.caDigestMismatch(let expected, let actual)) = error else {
                return false
            }
            return expected == other.digest && actual == cluster.security.ca.digest
        }
        #expect(await cluster.revision() == before)
        #expect(!FileManager.default.fileExists(atPath: directory + "/node.key"))
    }

    @Test func expiredCertificateIsRefusedAtTheHandshake() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        let expired = try cluster.security.ca.issueCredentials(
            nodeID: "old", role: .worker, now: Date().addingTimeInterval(-10 * 86400), validity: 86400)
        let client = try ControlPlaneClient(credentials: expired, managerAddress: cluster.apiAddress)
        await #expect(throws: (any Error).self) {
            _ = try await client.register(name: "old", address: IPv4Address(0x7f00_0001))
        }
        try await cluster.waitUntil { !cluster.refusals.isEmpty }
        #expect(cluster.refusals.contains { if case .expired = $0 { true } else { false } })
        #expect(await cluster.revision() == before)
    }

    @Test func certificateFromAnotherCAIsRefused() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        // Another CA that even claims our cluster id (else the client itself refuses the manager).
        let other = try ClusterCA.create(clusterID: cluster.security.ca.clusterID)
        // Signed by another CA but trusting ours, so only the manager's check can stop it.
        let foreign = try other.issueCredentials(nodeID: "intruder", role: .admin)
        let credentials = try NodeCredentials(
            privateKey: foreign.privateKey, certificate: foreign.certificate,
            caCertificate: cluster.security.ca.certificate)
        let client = try ControlPlaneClient(credentials: credentials, managerAddress: cluster.apiAddress)
        await #expect(throws: (any Error).self) {
            _ = try await client.http.request(.POST, "/v1/networks", body: Array(#"{"name":"x"}"#.utf8))
        }
        try await cluster.waitUntil { !cluster.refusals.isEmpty }
        #expect(
            cluster.refusals.contains { if case .otherCA = $0 { true } else { false } }, "\(cluster.refusals)"
        )
        #expect(await cluster.revision() == before)
        #expect(await cluster.state.networks.count == 1)
    }

    @Test func workerCannotCallAdminRoutes() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let client = try #require(await cluster.joinedAgent("w1").currentClient)
        let before = await cluster.revision()
        let create = try await client.http.request(
            .POST, "/v1/networks", body: Array(#"{"name":"evil"}"#.utf8))
        #expect(create.status == 403)
        #expect(create.text.contains("admin"))
        let list = try await client.http.request(.GET, "/v1/nodes")
        #expect(list.status == 403)
        let rotate = try await client.http.request(.POST, "/v1/cluster/tokens/worker/rotate")
        #expect(rotate.status == 403)
        // Nor another node's feed or heartbeat.
        let feed = try await client.http.request(.POST, "/v1/nodes/someone-else/heartbeat")
        #expect(feed.status == 403)
        #expect(await cluster.revision() == before)
        #expect(await cluster.state.networks.values.allSatisfy { $0.name != "evil" })
    }

    @Test func nodeCannotReportATaskOfAnotherNode() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let a = try #require(await cluster.joinedAgent("a").currentClient)
        let b = try #require(await cluster.joinedAgent("b").currentClient)
        let created = try await cluster.admin.request(
            .POST, "/v1/services", body: Array(#"{"name":"g","mode":"global","command":["sleep","1"]}"#.utf8))
        #expect(created.status == 201)
        try await cluster.waitUntil {
            await cluster.state.tasks.values.filter { $0.nodeID != nil }.count == 2
        }
        let tasks = await cluster.state.tasks.values
        let taskOfB = try #require(tasks.first { $0.nodeID == b.nodeID })
        let taskOfA = try #require(tasks.first { $0.nodeID == a.nodeID })
        let before = await cluster.revision()
        let stateBefore = await cluster.state.tasks[taskOfB.id]
        await #expect {
            _ = try await a.reportTask(taskOfB.id, state: .failed, message: "sabotage")
        } throws: { error in
            Self.status(of: error) == 403 && "\(error)".contains("\(b.nodeID)")
        }
        #expect(await cluster.revision() == before)
        #expect(await cluster.state.tasks[taskOfB.id] == stateBefore)
        // Its own task it may report.
        let own = try await a.reportTask(taskOfA.id, state: .running)
        #expect(own.id == taskOfA.id)
    }

    @Test func plainHTTPClientIsRefusedWithAClearError() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let before = await cluster.revision()
        for port in [cluster.endpoints.apiPort, cluster.endpoints.joinPort] {
            let plain = HTTPClient(.plain(host: "127.0.0.1", port: port))
            let result = try await plain.request(.POST, "/v1/networks", body: Array(#"{"name":"p"}"#.utf8))
            #expect(result.status == 400)
            #expect(result.text.contains("TLS 1.3 only") && result.text.contains("plain HTTP is refused"))
        }
        #expect(await cluster.revision() == before)
        #expect(await cluster.state.networks.count == 1)
    }

    @Test func rotatedTokenIsRefusedAndJoinedNodesAreUnaffected() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let old = cluster.workerToken
        let joined = try #require(await cluster.joinedAgent("j1").currentClient)
        let rotated = try await cluster.admin.request(.POST, "/v1/cluster/tokens/worker/rotate")
            .decode(JoinTokenResponse.self)
        #expect(rotated.token != old)
        let managerToken = cluster.security.token(for: .manager).description
        // Persisted: a restarted manager knows only the new token.
        let reloaded = try ClusterSecurity(dataDir: cluster.directory)
        #expect(reloaded.token(for: .worker).description == rotated.token)
        #expect(reloaded.token(for: .manager).description == managerToken)

        await #expect {
            _ = try await Joiner.join(
                joinAddress: cluster.joinAddress, token: old, dataDir: cluster.agentDirectory("late"))
        } throws: { error in Self.status(of: error) == 401 }
        #expect(try await joined.heartbeat().state == .ready)
        let fresh = try await cluster.joinedAgent("j2", token: rotated.token).currentClient
        #expect(fresh != nil)
    }

    @Test func nodeRemovalRevokesAndClosesTheFeed() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let client = try #require(await cluster.joinedAgent("r1").currentClient)
        let ended = Flag()
        let feed = Task {
            _ = try? await client.feed(since: nil) { _ in }
            ended.set()
        }
        defer { feed.cancel() }
        try await cluster.waitUntil { PeerConnections.shared.count(nodeID: client.nodeID) == 1 }
        #expect(PeerConnections.shared.count(nodeID: client.nodeID) == 1)

        let removed = try await cluster.admin.request(.DELETE, "/v1/nodes/\(client.nodeID)?force=true")
        #expect(removed.status == 204)
        // The open feed ends.
        try await cluster.waitUntil { ended.isSet }
        #expect(ended.isSet)
        try await cluster.waitUntil { PeerConnections.shared.count(nodeID: client.nodeID) == 0 }
        #expect(PeerConnections.shared.count(nodeID: client.nodeID) == 0)
        // Refused from now on, also after a manager restart (persisted).
        let before = await cluster.revision()
        await #expect(throws: (any Error).self) { _ = try await client.heartbeat() }
        try await cluster.waitUntil {
            cluster.refusals.contains(
                .revoked(nodeID: client.nodeID, serial: client.credentials.identity.serial))
        }
        #expect(
            cluster.refusals.contains(
                .revoked(nodeID: client.nodeID, serial: client.credentials.identity.serial)))
        #expect(
            try ClusterSecurity(dataDir: cluster.directory).revocations.snapshot.nodeIDs.contains(
                client.nodeID))
        #expect(await cluster.revision() == before)
        #expect(await cluster.state.nodes[client.nodeID] == nil)
    }

    @Test func renewalKeepsTheOpenFeed() async throws {
        // A short validity: with the one-hour backdate a third of it is always left, so renewal is due.
        let cluster = try await SecureCluster.start(validity: 600)
        defer { cluster.stop() }
        let agent = try await cluster.joinedAgent("f1")
        let first = try #require(await agent.currentClient)
        let feed = Task { await agent.feedLoop() }
        defer { feed.cancel() }
        try await cluster.waitUntil { await agent.status.lastRevision != nil }
        #expect(first.credentials.needsRenewal(now: Date()))

        try await agent.renewIfNeeded()
        try await agent.renewIfNeeded()
        let renewed = try #require(await agent.currentClient)
        #expect(await agent.status.renewals == 2)
        #expect(renewed.credentials.identity.serial != first.credentials.identity.serial)
        #expect(renewed.nodeID == first.nodeID)
        // Saved for the next start.
        let saved = try #require(try NodeCredentials.load(from: cluster.agentDirectory("f1")))
        #expect(saved.identity.serial == renewed.credentials.identity.serial)
        // New connections use the new certificate.
        #expect(try await renewed.heartbeat().state == .ready)

        // The feed opened before the renewals still delivers: a change reaches it on the same stream.
        let created = try await cluster.admin.request(
            .POST, "/v1/services", body: Array(#"{"name":"g","mode":"global","command":["x"]}"#.utf8))
        #expect(created.status == 201)
        let target = await cluster.revision()
        try await cluster.waitUntil { (await agent.status.lastRevision ?? 0) >= target }
        #expect((await agent.status.lastRevision ?? 0) >= target)
        #expect(await agent.status.feedConnections == 1)
    }

    @Test func adminOverTheUnixSocket() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        #expect(Self.mode(cluster.endpoints.socketPath) == 0o600)
        let socketDirectory = (cluster.endpoints.socketPath as NSString).deletingLastPathComponent
        #expect(Self.mode(socketDirectory) == 0o700)
        let token = try await cluster.admin.request(.GET, "/v1/cluster/tokens/worker").decode(
            JoinTokenResponse.self)
        #expect(token.token == cluster.workerToken)
        let network = try await cluster.admin.request(
            .POST, "/v1/networks", body: Array(#"{"name":"adm"}"#.utf8))
        #expect(network.status == 201)
        // The admin certificate that init wrote works over mutual TLS too.
        let adminCredentials = try #require(
            try NodeCredentials.load(from: ClusterSecurity.adminDirectory(cluster.directory)))
        let admin = try ControlPlaneClient(credentials: adminCredentials, managerAddress: cluster.apiAddress)
        let nodes = try await admin.http.request(.GET, "/v1/networks")
        #expect(nodes.status == 200 && nodes.text.contains("\"adm\""))
        // But a manager certificate is not an admin credential.
        let manager = try ControlPlaneClient(
            credentials: cluster.security.managerCredentials, managerAddress: cluster.apiAddress)
        #expect(try await manager.http.request(.GET, "/v1/nodes").status == 403)
    }

    @Test func anExpiredSavedCertificateNeedsAToken() async throws {
        let cluster = try await SecureCluster.start(validity: 3)
        defer { cluster.stop() }
        let agent = try await cluster.joinedAgent("e1")
        let first = try #require(await agent.currentClient)
        try await Task.sleep(for: .seconds(3.5))
        var configuration = agent.configuration
        configuration.token = nil
        await #expect {
            try await Agent(configuration: configuration).start()
        } throws: { error in
            "\(error)".contains("expired") && "\(error)".contains("join again")
        }
        // With a token it joins again as a new node (names are unique: the old node keeps "e1"
        // until `node rm`).
        configuration.token = cluster.workerToken
        configuration.name = "e1-again"
        let again = try await Agent(configuration: configuration).start()
        #expect(again.nodeID != first.nodeID)
    }

    @Test func managerRenewsItsOwnAndTheAdminCertificate() throws {
        let directory = NSTemporaryDirectory() + "shoal-own-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ClusterSecurity.initialize(dataDir: directory, advertiseAddress: "127.0.0.1")
        let security = try ClusterSecurity(dataDir: directory)
        let before = security.managerCredentials.identity
        #expect(try security.renewOwnCredentialsIfNeeded() == false)
        let later = Date().addingTimeInterval(70 * 86400)
        #expect(try security.renewOwnCredentialsIfNeeded(now: later))
        let after = security.managerCredentials.identity
        #expect(after.serial != before.serial && after.nodeID == before.nodeID && after.role == .manager)
        #expect(after.notValidAfter > later.addingTimeInterval(80 * 86400))
        // Saved: a restart loads the renewed certificates.
        #expect(try ClusterSecurity(dataDir: directory).managerCredentials.identity.serial == after.serial)
        let admin = try #require(try NodeCredentials.load(from: ClusterSecurity.adminDirectory(directory)))
        #expect(admin.identity.notValidAfter > later.addingTimeInterval(80 * 86400))
    }

    @Test func managerRefusesToStartWithoutInit() throws {
        let directory = NSTemporaryDirectory() + "shoal-noinit-\(getpid())"
        #expect {
            _ = try ClusterSecurity(dataDir: directory)
        } throws: { error in
            "\(error)".contains("shoald manager init --data-dir \(directory)")
        }
        #expect(throws: SecurityError.self) {
            try ClusterSecurity.initialize(dataDir: directory + "-x", advertiseAddress: "not-an-ip")
        }
        try? FileManager.default.removeItem(atPath: directory + "-x")
    }
}
