import Foundation
import Testing
import X509

@testable import ShoalPKI

@Suite struct NodeCredentialsTests {
    @Test func savedCredentialsArePrivateAndLoadBack() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try Cluster()
        let node = try cluster.node("node-1")
        let data = dir.file("data/pki")
        try node.save(to: data)
        for name in ["node.key", "node.crt", "ca.crt"] {
            #expect(try fileMode(data + "/" + name) == 0o600, "\(name)")
        }
        #expect(try fileMode(data) == 0o700)
        let loaded = try #require(try NodeCredentials.load(from: data))
        #expect(loaded.certificate == node.certificate)
        #expect(loaded.caCertificate == cluster.ca.certificate)
        #expect(loaded.privateKey == node.privateKey)
        #expect(loaded.identity.nodeID == "node-1")
        #expect(loaded.identity.role == .worker)
    }

    @Test func nothingSavedMeansNil() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(try NodeCredentials.load(from: dir.path) == nil)
        #expect(try NodeCredentials.load(from: dir.file("missing")) == nil)
    }

    @Test func partialCredentialsAreAnError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Cluster().node("n").save(to: dir.path)
        #expect(unlink(dir.file("node.crt")) == 0)
        #expect(throws: PKIError.incompleteCredentials(directory: dir.path, missing: ["node.crt"])) {
            try NodeCredentials.load(from: dir.path)
        }
    }

    @Test func keyReadableByOthersIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Cluster().node("n").save(to: dir.path)
        #expect(chmod(dir.file("node.key"), 0o640) == 0)
        #expect(throws: PKIError.insecureFileMode(path: dir.file("node.key"), mode: 0o640)) {
            try NodeCredentials.load(from: dir.path)
        }
    }

    @Test func certificateOfAnotherCAIsRefusedOnLoad() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Cluster().node("n").save(to: dir.path)
        try Cluster().node("n").save(to: dir.file("other"))
        #expect(rename(dir.file("other/ca.crt"), dir.file("ca.crt")) == 0)
        #expect(
            throws: PKIError.malformed(path: dir.file("node.crt"), reason: "not signed by the CA in ca.crt")
        ) {
            try NodeCredentials.load(from: dir.path)
        }
    }

    @Test func keyOfAnotherNodeIsRefused() throws {
        let cluster = try Cluster()
        let a = try cluster.node("a")
        let b = try cluster.node("b")
        #expect(throws: PKIError.keyMismatch) {
            try NodeCredentials(
                privateKey: a.privateKey, certificate: b.certificate, caCertificate: a.caCertificate)
        }
    }

    @Test func renewalStartsWhenAThirdOfTheValidityRemains() throws {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let node = try Cluster().node("n", now: issued, validity: 90 * day)
        // Validity runs from issued - 1h (backdate) to issued + 90 days; a third of that remains at:
        let total = 90 * day + ClusterCA.backdate
        let threshold = issued + 90 * day - total / 3
        #expect(node.renewalDate == threshold)
        #expect(!node.needsRenewal(now: issued))
        #expect(!node.needsRenewal(now: threshold - 1))
        #expect(node.needsRenewal(now: threshold))
        #expect(node.needsRenewal(now: issued + 91 * day))
    }

    @Test func saveReplacesExistingCredentialsAtomically() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try Cluster()
        try cluster.node("n").save(to: dir.path)
        let renewed = try cluster.node("n")
        try renewed.save(to: dir.path)
        #expect(try NodeCredentials.load(from: dir.path)?.certificate == renewed.certificate)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [
                "ca.crt", "node.crt", "node.key",
            ])
    }

    @Test func renewalKeepsIdAndRoleWithANewKeyAndTheOldCertificateStillWorks() throws {
        let cluster = try Cluster()
        let issued = Date() - 70 * day
        let old = try cluster.node("node-3", role: .manager, now: issued)
        #expect(old.needsRenewal(now: Date()))
        let identity = try cluster.verifier.verify(old.certificate, now: Date())
        let csr = try NodeCSR.generate(requestedNodeID: "ignored")
        let certificate = try cluster.ca.renew(csr: csr.request, for: identity)
        let renewed = try csr.credentials(certificate: certificate, caCertificate: cluster.ca.certificate)
        #expect(renewed.identity.nodeID == "node-3")
        #expect(renewed.identity.role == .manager)
        #expect(renewed.privateKey.publicKey != old.privateKey.publicKey)
        #expect(!renewed.needsRenewal(now: Date()))
        // Both certificates verify: connections opened with the old one are not cut by the renewal.
        #expect(try cluster.verifier.verify(old.certificate, now: Date()).nodeID == "node-3")
        #expect(try cluster.verifier.verify(renewed.certificate, now: Date()).nodeID == "node-3")

        var foreign = identity
        foreign.clusterID = "another"
        #expect(
            throws: CSRError.malformed(
                "identity of cluster another cannot renew in cluster \(cluster.ca.clusterID)")
        ) {
            try cluster.ca.renew(csr: csr.request, for: foreign)
        }
    }
}
