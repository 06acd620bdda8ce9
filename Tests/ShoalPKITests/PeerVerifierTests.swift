import Foundation
import Testing
import X509

@testable import ShoalPKI

@Suite struct PeerVerifierTests {
    @Test func validCertificateYieldsItsIdentity() throws {
        let cluster = try Cluster()
        let node = try cluster.node("node-1", role: .worker)
        let identity = try cluster.verifier.verify(node.certificate, now: Date())
        #expect(identity.nodeID == "node-1")
        #expect(identity.role == .worker)
        #expect(identity.clusterID == cluster.ca.clusterID)
        #expect(identity.serial == Hex.encode(node.certificate.serialNumber.bytes))
        let der = try node.certificate.derBytes()
        #expect(try cluster.verifier.verify(derBytes: der, now: Date()) == identity)
    }

    @Test func expiredCertificateIsRefused() throws {
        let cluster = try Cluster()
        let issued = Date() - 200 * day
        let node = try cluster.node("old", now: issued, validity: 90 * day)
        #expect(throws: PeerVerificationError.expired(notValidAfter: node.certificate.notValidAfter)) {
            try cluster.verifier.verify(node.certificate, now: Date())
        }
        // The same certificate was fine while it was valid.
        #expect(try cluster.verifier.verify(node.certificate, now: issued + day).nodeID == "old")
    }

    @Test func notYetValidCertificateIsRefused() throws {
        let cluster = try Cluster()
        let node = try cluster.node("future", now: Date() + 10 * day)
        #expect(throws: PeerVerificationError.notYetValid(notValidBefore: node.certificate.notValidBefore)) {
            try cluster.verifier.verify(node.certificate, now: Date())
        }
    }

    @Test func certificateFromAnotherCAIsRefused() throws {
        let ours = try Cluster()
        let theirs = try Cluster()
        let node = try theirs.node("intruder")
        #expect(throws: PeerVerificationError.otherCA(issuer: theirs.ca.certificate.subject.description)) {
            try ours.verifier.verify(node.certificate, now: Date())
        }
    }

    @Test func anotherCAWithTheSameNameIsStillAnotherCA() throws {
        // Same cluster id, so the same issuer name: only the signature tells them apart.
        let ours = try Cluster(clusterID: "same")
        let impostor = try Cluster(clusterID: "same")
        let node = try impostor.node("node-1")
        #expect(node.certificate.issuer == ours.ca.certificate.subject)
        #expect(throws: PeerVerificationError.otherCA(issuer: node.certificate.issuer.description)) {
            try ours.verifier.verify(node.certificate, now: Date())
        }
    }

    @Test func revokedNodeIsRefused() throws {
        let cluster = try Cluster()
        let node = try cluster.node("gone")
        let other = try cluster.node("stays")
        cluster.revocations.revoke(nodeID: "gone")
        #expect(throws: PeerVerificationError.revoked(nodeID: "gone", serial: node.identity.serial)) {
            try cluster.verifier.verify(node.certificate, now: Date())
        }
        // Every certificate of that node, including a renewed one, is refused; other nodes are not.
        let renewed = try cluster.node("gone")
        #expect(throws: PeerVerificationError.revoked(nodeID: "gone", serial: renewed.identity.serial)) {
            try cluster.verifier.verify(renewed.certificate, now: Date())
        }
        #expect(try cluster.verifier.verify(other.certificate, now: Date()).nodeID == "stays")
    }

    @Test func revokedSerialIsRefusedAndOtherCertificatesOfTheNodeAreNot() throws {
        let cluster = try Cluster()
        let leaked = try cluster.node("n")
        let fresh = try cluster.node("n")
        cluster.revocations.revoke(serial: leaked.identity.serial.uppercased())
        #expect(throws: PeerVerificationError.revoked(nodeID: "n", serial: leaked.identity.serial)) {
            try cluster.verifier.verify(leaked.certificate, now: Date())
        }
        #expect(try cluster.verifier.verify(fresh.certificate, now: Date()).nodeID == "n")
        #expect(cluster.revocations.snapshot.serials == [leaked.identity.serial])
    }

    @Test func revocationListPersistsAsJSON() throws {
        let list = RevocationList()
        list.revoke(nodeID: "a")
        list.revoke(serial: "0a0b")
        let data = try JSONEncoder().encode(list.snapshot)
        let restored = RevocationList(try JSONDecoder().decode(RevocationList.Snapshot.self, from: data))
        #expect(restored.isRevoked(nodeID: "a", serial: "ff"))
        #expect(restored.isRevoked(nodeID: "b", serial: "0A0B"))
        #expect(!restored.isRevoked(nodeID: "b", serial: "ff"))
    }

    @Test func certificateOfAnotherClusterIdIsRefused() throws {
        let cluster = try Cluster(clusterID: "ours")
        let key = try NodeCSR.generate(requestedNodeID: "x")
        // Signed by our CA but naming another cluster (a CA bug or a stolen CA key used carelessly).
        let certificate = try cluster.ca.issue(
            publicKey: key.privateKey.publicKey, nodeID: "x", role: .worker, now: Date(), validity: day,
            ipAddresses: [], dnsNames: [], clusterIDOverride: "theirs")
        #expect(throws: PeerVerificationError.wrongCluster(expected: "ours", found: "theirs")) {
            try cluster.verifier.verify(certificate, now: Date())
        }
    }

    @Test func theCACertificateItselfIsNotANodeCertificate() throws {
        let cluster = try Cluster()
        #expect(throws: PeerVerificationError.notALeaf) {
            try cluster.verifier.verify(cluster.ca.certificate, now: Date())
        }
    }

    @Test func malformedCertificatesAreRefused() throws {
        let cluster = try Cluster()
        do {
            _ = try cluster.verifier.verify(derBytes: [0x30, 0x03, 0x02, 0x01, 0x00], now: Date())
            Issue.record("garbage verified")
        } catch {
            guard case .malformed = error else {
                Issue.record("expected malformed, got \(error)")
                return
            }
        }
        // Signed by our CA, but without a role in the subject.
        let key = try NodeCSR.generate(requestedNodeID: "x")
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.privateKey.publicKey,
            notValidBefore: Date() - day, notValidAfter: Date() + day, issuer: cluster.ca.certificate.subject,
            subject: DistinguishedName {
                OrganizationName(cluster.ca.clusterID)
                CommonName("x")
            },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(),
            issuerPrivateKey: cluster.ca.privateKey)
        #expect(throws: PeerVerificationError.malformed("subject has no single organizational unit (role)")) {
            try cluster.verifier.verify(certificate, now: Date())
        }
    }

    @Test func managerIdentityNeedsManagerRoleAndTheDialledAddress() throws {
        let cluster = try Cluster()
        let now = Date()
        #expect(
            try cluster.verifier.verifyManager(cluster.manager.certificate, address: "127.0.0.1", now: now)
                .role
                == .manager)
        #expect(throws: PeerVerificationError.serverNameMismatch(expected: "127.0.0.2", found: ["127.0.0.1"]))
        {
            try cluster.verifier.verifyManager(cluster.manager.certificate, address: "127.0.0.2", now: now)
        }
        let named = try cluster.ca.issueCredentials(
            nodeID: "m2", role: .manager, dnsNames: ["manager.example"])
        #expect(
            try cluster.verifier.verifyManager(named.certificate, address: "Manager.Example", now: now).nodeID
                == "m2")
        let worker = try cluster.ca.issueCredentials(nodeID: "w", role: .worker, ipAddresses: ["127.0.0.1"])
        #expect(throws: PeerVerificationError.roleNotAccepted(role: .worker, accepted: [.manager])) {
            try cluster.verifier.verifyManager(worker.certificate, address: "127.0.0.1", now: now)
        }
    }
}
