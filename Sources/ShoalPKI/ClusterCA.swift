import Crypto
import Foundation
import SwiftASN1
import X509

/// The cluster's root certificate authority: a self-signed P-256 certificate whose subject is
/// CN=shoal-ca, O=<cluster id>. It signs every node certificate directly (no intermediates).
public struct ClusterCA: Sendable {
    public static let defaultNodeValidity: TimeInterval = 90 * 24 * 3600
    public static let defaultCAValidity: TimeInterval = 20 * 365 * 24 * 3600
    /// Certificates start this long before "now" so that small clock differences between nodes
    /// do not make a fresh certificate "not yet valid" (swarmkit backdates by an hour too).
    public static let backdate: TimeInterval = 3600
    static let commonName = "shoal-ca"
    static let certificateFile = "ca.crt"
    static let keyFile = "ca.key"

    public let clusterID: String
    public let certificate: Certificate
    let privateKey: Certificate.PrivateKey
    /// DER bytes of the CA certificate (what joining nodes receive and pin).
    public let certificateDER: [UInt8]
    /// Base36 SHA-256 of the CA certificate's DER: the digest carried in join tokens.
    public let digest: String

    /// Creates a new root CA. `clusterID` defaults to a fresh random id.
    public static func create(
        clusterID: String = ClusterCA.newID(), now: Date = Date(),
        validity: TimeInterval = ClusterCA.defaultCAValidity
    ) throws(PKIError) -> ClusterCA {
        try validateID(clusterID)
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        do {
            let name = try DistinguishedName {
                OrganizationName(clusterID)
                CommonName(commonName)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now - backdate, notValidAfter: now + validity,
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(key))
            return try ClusterCA(
                clusterID: clusterID, certificate: certificate, privateKey: Certificate.PrivateKey(key))
        } catch let error as PKIError {
            throw error
        } catch {
            throw .crypto("\(error)")
        }
    }

    init(clusterID: String, certificate: Certificate, privateKey: Certificate.PrivateKey) throws(PKIError) {
        self.clusterID = clusterID
        self.certificate = certificate
        self.privateKey = privateKey
        do {
            certificateDER = try certificate.derBytes()
        } catch {
            throw .crypto("cannot serialize the CA certificate: \(error)")
        }
        digest = ClusterCA.digest(ofCertificateDER: certificateDER)
    }

    /// A random 25-character base36 id (128 bits), the shape Swarm uses for node and cluster ids.
    public static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        return Base36.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }, width: 25)
    }

    public static func digest(ofCertificateDER der: [UInt8]) -> String {
        Base36.encode(Array(SHA256.hash(data: der)), width: 50)
    }

    /// A verifier for peers of this cluster.
    public func verifier(revocations: RevocationList = RevocationList()) -> PeerVerifier {
        PeerVerifier(caCertificate: certificate, clusterID: clusterID, revocations: revocations)
    }

    // MARK: issuing

    /// Issues a node certificate for the public key of a verified CSR. The CA decides the node id and the
    /// role; the CSR's own subject is ignored (only its key is trusted, as in swarmkit's signing policy).
    public func issue(
        csr: CertificateSigningRequest, nodeID: String, role: NodeRole, now: Date = Date(),
        validity: TimeInterval = ClusterCA.defaultNodeValidity, ipAddresses: [String] = [],
        dnsNames: [String] = []
    ) throws(CSRError) -> Certificate {
        try NodeCSR.verify(csr)
        do {
            return try issue(
                publicKey: csr.publicKey, nodeID: nodeID, role: role, now: now, validity: validity,
                ipAddresses: ipAddresses, dnsNames: dnsNames)
        } catch {
            throw .malformed(error.description)
        }
    }

    /// Renewal: a node already authenticated by its current certificate (over mutual TLS, so not revoked)
    /// sends a CSR for a new key; the new certificate keeps the node id and role of that identity.
    /// Renewal needs no join token.
    public func renew(
        csr: CertificateSigningRequest, for identity: NodeIdentity, now: Date = Date(),
        validity: TimeInterval = ClusterCA.defaultNodeValidity, ipAddresses: [String] = [],
        dnsNames: [String] = []
    ) throws(CSRError) -> Certificate {
        guard identity.clusterID == clusterID else {
            throw .malformed("identity of cluster \(identity.clusterID) cannot renew in cluster \(clusterID)")
        }
        return try issue(
            csr: csr, nodeID: identity.nodeID, role: identity.role, now: now, validity: validity,
            ipAddresses: ipAddresses, dnsNames: dnsNames)
    }

    /// Generates a key on this machine and issues its certificate: for the manager's own certificate
    /// and the admin certificate that `manager init` writes.
    public func issueCredentials(
        nodeID: String, role: NodeRole, now: Date = Date(),
        validity: TimeInterval = ClusterCA.defaultNodeValidity, ipAddresses: [String] = [],
        dnsNames: [String] = []
    ) throws(PKIError) -> NodeCredentials {
        let key = P256.Signing.PrivateKey()
        let certificate = try issue(
            publicKey: Certificate.PublicKey(key.publicKey), nodeID: nodeID, role: role, now: now,
            validity: validity, ipAddresses: ipAddresses, dnsNames: dnsNames)
        return try NodeCredentials(
            privateKey: Certificate.PrivateKey(key), certificate: certificate, caCertificate: self.certificate
        )
    }

    func issue(
        publicKey: Certificate.PublicKey, nodeID: String, role: NodeRole, now: Date,
        validity: TimeInterval, ipAddresses: [String], dnsNames: [String],
        clusterIDOverride: String? = nil
    ) throws(PKIError) -> Certificate {
        try ClusterCA.validateID(nodeID)
        var names: [GeneralName] = []
        for address in ipAddresses {
            guard let bytes = IPAddressBytes.parse(address) else { throw .invalidAddress(address) }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        names += dnsNames.map { .dnsName($0) }
        do {
            let subject = try DistinguishedName {
                OrganizationName(clusterIDOverride ?? clusterID)
                OrganizationalUnitName(role.organizationalUnit)
                CommonName(nodeID)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try caKeyIdentifier())
                if !names.isEmpty {
                    SubjectAlternativeNames(names)
                }
            }
            return try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now - ClusterCA.backdate, notValidAfter: now + validity,
                issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: privateKey)
        } catch {
            throw .crypto("\(error)")
        }
    }

    private func caKeyIdentifier() throws -> ArraySlice<UInt8> {
        if let identifier = try certificate.extensions.subjectKeyIdentifier {
            return identifier.keyIdentifier
        }
        return SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
    }

    static func validateID(_ id: String) throws(PKIError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".utf8)
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ allowed.contains($0) }) else {
            throw .invalidNodeID(id)
        }
    }

    // MARK: storage

    /// Writes `ca.crt` and `ca.key` (both 0600, atomically) under `directory`, creating it (0700).
    public func save(to directory: String) throws(PKIError) {
        try SecureFile.makeDirectory(directory)
        let keyPEM: String
        let certificatePEM: String
        do {
            keyPEM = try privateKey.serializeAsPEM().pemString
            certificatePEM = try certificate.serializeAsPEM().pemString
        } catch {
            throw .crypto("\(error)")
        }
        try SecureFile.write(Array((keyPEM + "\n").utf8), to: SecureFile.join(directory, ClusterCA.keyFile))
        try SecureFile.write(
            Array((certificatePEM + "\n").utf8), to: SecureFile.join(directory, ClusterCA.certificateFile))
    }

    /// Loads a CA saved by `save(to:)`. Checks that the key matches and the certificate is a Shoal CA.
    public static func load(from directory: String) throws(PKIError) -> ClusterCA {
        let certificatePath = SecureFile.join(directory, certificateFile)
        let keyPath = SecureFile.join(directory, keyFile)
        let certificateBytes = try SecureFile.read(certificatePath)
        let keyBytes = try SecureFile.read(keyPath)
        guard let certificateBytes, let keyBytes else {
            let missing = [(certificateBytes, certificateFile), (keyBytes, keyFile)].filter { $0.0 == nil }
            throw .incompleteCredentials(directory: directory, missing: missing.map(\.1))
        }
        let certificate = try PEMFile.certificate(certificateBytes, path: certificatePath)
        let key = try PEMFile.p256Key(keyBytes, path: keyPath)
        guard key.publicKey == certificate.publicKey else { throw .keyMismatch }
        guard case .some(.isCertificateAuthority) = try? certificate.extensions.basicConstraints else {
            throw .notACertificateAuthority(reason: "basic constraints do not mark it as a CA")
        }
        guard let clusterID = certificate.subject.singleValue(of: .RDNAttributeType.organizationName),
            certificate.subject.singleValue(of: .RDNAttributeType.commonName) == commonName
        else {
            throw .notACertificateAuthority(reason: "subject is not CN=\(commonName),O=<cluster id>")
        }
        return try ClusterCA(clusterID: clusterID, certificate: certificate, privateKey: key)
    }
}

extension Certificate {
    func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}

/// PEM decoding with errors that name the file.
enum PEMFile {
    static func certificate(_ bytes: [UInt8], path: String) throws(PKIError) -> Certificate {
        do {
            return try Certificate(pemEncoded: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw .malformed(path: path, reason: "not a PEM certificate: \(error)")
        }
    }

    /// Only P-256 keys are accepted.
    static func p256Key(_ bytes: [UInt8], path: String) throws(PKIError) -> Certificate.PrivateKey {
        do {
            let key = try P256.Signing.PrivateKey(pemRepresentation: String(decoding: bytes, as: UTF8.self))
            return Certificate.PrivateKey(key)
        } catch {
            throw .malformed(path: path, reason: "not a PEM P-256 private key: \(error)")
        }
    }
}
