import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import ShoalPKI

@Suite struct ClusterCATests {
    @Test func createdCAIsASelfSignedP256RootNamingTheCluster() throws {
        let ca = try ClusterCA.create(clusterID: "cluster-a")
        #expect(ca.certificate.subject == ca.certificate.issuer)
        #expect(ca.certificate.publicKey.isValidSignature(ca.certificate.signature, for: ca.certificate))
        #expect(P256.Signing.PublicKey(ca.certificate.publicKey) != nil)
        #expect(try ca.certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(ca.certificate.subject.singleValue(of: .RDNAttributeType.organizationName) == "cluster-a")
        #expect(ca.digest.count == 50)
    }

    @Test func saveWritesPrivateFilesAndLoadRestoresTheSameCA() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ca = try ClusterCA.create()
        try ca.save(to: dir.file("ca"))
        #expect(try fileMode(dir.file("ca")) == 0o700)
        #expect(try fileMode(dir.file("ca/ca.key")) == 0o600)
        #expect(try fileMode(dir.file("ca/ca.crt")) == 0o600)
        let key = try String(contentsOfFile: dir.file("ca/ca.key"), encoding: .utf8)
        #expect(key.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        // No temporary files are left behind by the atomic writes.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.file("ca")).sorted() == [
                "ca.crt", "ca.key",
            ])

        let loaded = try ClusterCA.load(from: dir.file("ca"))
        #expect(loaded.certificate == ca.certificate)
        #expect(loaded.clusterID == ca.clusterID)
        #expect(loaded.digest == ca.digest)
        // The loaded key still signs for this CA.
        let node = try loaded.issueCredentials(nodeID: "n1", role: .worker)
        #expect(try ca.verifier().verify(node.certificate, now: Date()).nodeID == "n1")
    }

    @Test func loadRefusesAKeyReadableByOthers() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try ClusterCA.create().save(to: dir.path)
        #expect(chmod(dir.file("ca.key"), 0o644) == 0)
        #expect(throws: PKIError.insecureFileMode(path: dir.file("ca.key"), mode: 0o644)) {
            try ClusterCA.load(from: dir.path)
        }
    }

    @Test func loadReportsMissingFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try ClusterCA.create().save(to: dir.path)
        #expect(unlink(dir.file("ca.key")) == 0)
        #expect(throws: PKIError.incompleteCredentials(directory: dir.path, missing: ["ca.key"])) {
            try ClusterCA.load(from: dir.path)
        }
    }

    @Test func loadRefusesAKeyOfAnotherCA() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try ClusterCA.create().save(to: dir.file("a"))
        try ClusterCA.create().save(to: dir.file("b"))
        #expect(rename(dir.file("b/ca.key"), dir.file("a/ca.key")) == 0)
        #expect(throws: PKIError.keyMismatch) { try ClusterCA.load(from: dir.file("a")) }
    }

    @Test func issuedCertificateCarriesNodeIdRoleClusterAndNinetyDays() throws {
        let ca = try ClusterCA.create(clusterID: "cluster-a")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let csr = try NodeCSR.generate(requestedNodeID: "whatever")
        let certificate = try ca.issue(
            csr: csr.request, nodeID: "node-7", role: .manager, now: now,
            ipAddresses: ["10.0.0.5", "fd00::1"])
        let subject = certificate.subject
        #expect(subject.singleValue(of: .RDNAttributeType.commonName) == "node-7")
        #expect(subject.singleValue(of: .RDNAttributeType.organizationalUnitName) == "shoal-manager")
        #expect(subject.singleValue(of: .RDNAttributeType.organizationName) == "cluster-a")
        #expect(certificate.issuer == ca.certificate.subject)
        #expect(certificate.publicKey == csr.privateKey.publicKey)
        #expect(certificate.notValidAfter == now + 90 * day)
        #expect(certificate.notValidBefore == now - ClusterCA.backdate)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth) && usages.contains(.clientAuth))
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(
            Array(names) == [
                .ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 5])),
                .ipAddress(
                    ASN1OctetString(contentBytes: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
            ])
    }

    @Test func theCANotTheRequesterDecidesNodeIdAndRole() throws {
        let ca = try ClusterCA.create()
        // A node asks to be "manager-1" with a manager OU; the CA grants it a worker id of its choosing.
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("another-cluster")
            OrganizationalUnitName("shoal-manager")
            CommonName("manager-1")
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        let pem = try request.serializeAsPEM().pemString
        let parsed = try NodeCSR.parse(pem: pem)
        #expect(NodeCSR.requestedNodeID(of: parsed) == "manager-1")
        let certificate = try ca.issue(csr: parsed, nodeID: "w-42", role: .worker)
        let identity = try ca.verifier().verify(certificate, now: Date())
        #expect(identity.nodeID == "w-42")
        #expect(identity.role == .worker)
        #expect(identity.clusterID == ca.clusterID)
    }

    @Test func csrWithABadSignatureIsRefused() throws {
        let ca = try ClusterCA.create()
        let honest = try NodeCSR.generate(requestedNodeID: "a")
        let other = try NodeCSR.generate(requestedNodeID: "b")
        // Key of one CSR, signature of another.
        let forged = try CertificateSigningRequest(
            version: .v1, subject: honest.request.subject, publicKey: honest.request.publicKey,
            attributes: honest.request.attributes, signatureAlgorithm: .ecdsaWithSHA256,
            signature: other.request.signature)
        #expect(throws: CSRError.badSignature) { try ca.issue(csr: forged, nodeID: "a", role: .worker) }
        #expect(throws: CSRError.badSignature) {
            try NodeCSR.parse(pem: forged.serializeAsPEM().pemString)
        }
    }

    @Test func csrWithANonP256KeyIsRefused() throws {
        let key = P384.Signing.PrivateKey()
        let request = try CertificateSigningRequest(
            version: .v1, subject: DistinguishedName { CommonName("n") },
            privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA384)
        let pem = try request.serializeAsPEM().pemString
        do {
            _ = try NodeCSR.parse(pem: pem)
            Issue.record("P-384 CSR accepted")
        } catch {
            guard case .unsupportedKey = error else {
                Issue.record("expected unsupportedKey, got \(error)")
                return
            }
        }
    }

    @Test func garbageCSRIsMalformed() {
        #expect(throws: CSRError.self) {
            try NodeCSR.parse(
                pem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----")
        }
        do {
            _ = try NodeCSR.parse(pem: "not a csr")
            Issue.record("parsed garbage")
        } catch {
            guard case .malformed = error else {
                Issue.record("expected malformed, got \(error)")
                return
            }
        }
    }

    @Test func invalidNodeIdsAndAddressesAreRefused() throws {
        let ca = try ClusterCA.create()
        #expect(throws: PKIError.invalidNodeID("a/b")) {
            try ca.issueCredentials(nodeID: "a/b", role: .worker)
        }
        #expect(throws: PKIError.invalidNodeID("")) { try ca.issueCredentials(nodeID: "", role: .worker) }
        #expect(throws: PKIError.invalidAddress("10.0.0.300")) {
            try ca.issueCredentials(nodeID: "m", role: .manager, ipAddresses: ["10.0.0.300"])
        }
    }
}
