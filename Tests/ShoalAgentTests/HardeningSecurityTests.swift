import Foundation
import ShoalAgent
import ShoalCore
import ShoalModel
import ShoalPKI
import Testing

/// Issue #13, "security holes": issuance records, revocation order and atomicity, the node's
/// address taken from its connection. Against the real secure manager on loopback.
@Suite(.serialized) struct HardeningSecurityTests {
    func certificates(_ cluster: SecureCluster) async throws -> [CertificateRecord] {
        let listed = try await cluster.admin.request(.GET, "/v1/cluster/certificates")
        #expect(listed.status == 200, "\(listed.text)")
        let decoder = JSONDecoder()
        return try decoder.decode([CertificateRecord].self, from: Data(listed.body))
    }

    @Test func everyIssuedCertificateIsListedAndOneCanBeRevoked() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let client = try #require(await cluster.joinedAgent("c1").currentClient)
        let serial = client.credentials.identity.serial
        let records = try await certificates(cluster)
        #expect(records.map(\.issuedBy).sorted() == ["init", "init", "join"])
        let mine = try #require(records.first { $0.serial == serial })
        #expect(mine.nodeID == client.nodeID && mine.role == "worker" && mine.revoked == false)

        let revoked = try await cluster.admin.request(.POST, "/v1/cluster/certificates/\(serial)/revoke")
        #expect(revoked.status == 200, "\(revoked.text)")
        #expect(try await certificates(cluster).first { $0.serial == serial }?.revoked == true)
        await #expect(throws: (any Error).self) { _ = try await client.heartbeat() }
        #expect(try ClusterSecurity(dataDir: cluster.directory).revocations.snapshot.serials.contains(serial))
        let unknown = try await cluster.admin.request(.POST, "/v1/cluster/certificates/00ff/revoke")
        #expect(unknown.status == 404)
    }

    @Test func onlyARecordedIdentityMayRegister() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        // Signed by the cluster CA (as a leaked CA key or an older, unrecorded join would), never recorded.
        let unrecorded = try cluster.security.ca.issueCredentials(nodeID: "ghost", role: .worker)
        let client = try ControlPlaneClient(credentials: unrecorded, managerAddress: cluster.apiAddress)
        await #expect {
            _ = try await client.register(name: "ghost", address: IPv4Address(0))
        } throws: { error in
            SecurityTests.status(of: error) == 403
                && "\(error)".contains("not in this manager's issuance records")
        }
        #expect(await cluster.state.nodes.isEmpty)
    }

    @Test func nodeRemovalRevokesFirstAndRemovesNothingWhenTheRevocationFails() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let client = try #require(await cluster.joinedAgent("r1").currentClient)
        // The revocation list cannot be saved: a directory stands where the file is renamed to.
        let path = cluster.directory + "/pki/revocations.json"
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path + "/blocker", withIntermediateDirectories: true)
        let removed = try await cluster.admin.request(.DELETE, "/v1/nodes/\(client.nodeID)?force=true")
        #expect(removed.status == 500, "\(removed.text)")
        #expect(removed.text.contains("was not removed"), "\(removed.text)")
        #expect(await cluster.state.nodes[client.nodeID] != nil)
    }

    @Test func concurrentRevocationsAreAllSaved() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let security = cluster.security
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask { try? security.revoke(nodeID: "node\(index)") }
            }
        }
        let saved = try ClusterSecurity(dataDir: cluster.directory).revocations.snapshot.nodeIDs
        #expect(saved.count == 64)
    }

    @Test func renewalRevokesTheOldCertificate() async throws {
        let cluster = try await SecureCluster.start(validity: 600)
        defer { cluster.stop() }
        let agent = try await cluster.joinedAgent("n1")
        let old = try #require(await agent.currentClient)
        try await agent.renewIfNeeded()
        let renewed = try #require(await agent.currentClient)
        #expect(try await renewed.heartbeat().state == .ready)
        #expect(
            cluster.security.revocations.isRevoked(
                nodeID: old.nodeID, serial: old.credentials.identity.serial))
        await #expect(throws: (any Error).self) { _ = try await old.heartbeat() }
        let records = try await certificates(cluster)
        #expect(records.filter { $0.nodeID == old.nodeID }.map(\.issuedBy).sorted() == ["join", "renew"])
    }

    @Test func theNodeAddressIsTheOneTheManagerSees() async throws {
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        await #expect {
            _ = try await cluster.joinedAgent("liar", address: "10.9.0.1")
        } throws: { error in
            SecurityTests.status(of: error) == 403 && "\(error)".contains("connects from 127.0.0.1")
        }
        let agent = try await cluster.joinedAgent("quiet", address: "0.0.0.0")
        let id = try #require(await agent.currentClient?.nodeID)
        #expect(await cluster.state.nodes[id]?.address.description == "127.0.0.1")

        let trusting = try await SecureCluster.start(trustNodeAddresses: true)
        defer { trusting.stop() }
        let natted = try #require(await trusting.joinedAgent("natted", address: "10.9.0.1").currentClient)
        #expect(await trusting.state.nodes[natted.nodeID]?.address.description == "10.9.0.1")
    }

    /// `openssl s_client` with the admin certificate; returns what it printed.
    static func openssl(_ cluster: SecureCluster, session: String, saving: Bool) throws -> String {
        let admin = cluster.directory + "/pki/admin"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "s_client", "-connect", cluster.apiAddress, "-tls1_3", "-cert", admin + "/node.crt", "-key",
            admin + "/node.key", "-CAfile", admin + "/ca.crt", saving ? "-sess_out" : "-sess_in", session,
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data("GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        // The tickets arrive after the handshake; give them and the answer a moment.
        Thread.sleep(forTimeInterval: 1)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func aTLSSessionIsNeverResumedWithoutTheCertificateCheck() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is needed")
        let cluster = try await SecureCluster.start()
        defer { cluster.stop() }
        let session = cluster.directory + "/tls.session"
        let first = try Self.openssl(cluster, session: session, saving: true)
        #expect(first.contains("HTTP/1.1 200"), "\(first)")
        let second = try Self.openssl(cluster, session: session, saving: false)
        #expect(second.contains("New, TLSv1.3"), "\(second)")
        #expect(!second.contains("Reused"), "\(second)")
        #expect(second.contains("HTTP/1.1 200"), "\(second)")
    }
}
