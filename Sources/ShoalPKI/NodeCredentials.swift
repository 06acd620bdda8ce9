import Crypto
import Foundation
import X509

/// A node's key, its certificate and the pinned cluster CA, stored under the node's data dir as
/// `node.key`, `node.crt`, `ca.crt`, all 0600 and written atomically.
public struct NodeCredentials: Sendable {
    static let keyFile = "node.key"
    static let certificateFile = "node.crt"
    static let caFile = "ca.crt"

    /// Renew when less than this fraction of the certificate's validity remains (30 of 90 days).
    public static let renewalFraction = 1.0 / 3.0

    public let privateKey: Certificate.PrivateKey
    public let certificate: Certificate
    public let caCertificate: Certificate
    public let identity: NodeIdentity

    public init(privateKey: Certificate.PrivateKey, certificate: Certificate, caCertificate: Certificate)
        throws(PKIError)
    {
        guard privateKey.publicKey == certificate.publicKey else {
            throw .keyMismatch
        }
        do {
            identity = try NodeIdentity(certificate: certificate)
        } catch {
            throw .malformed(path: NodeCredentials.certificateFile, reason: error.description)
        }
        self.privateKey = privateKey
        self.certificate = certificate
        self.caCertificate = caCertificate
    }

    /// The moment from which `needsRenewal` is true: notValidAfter - validity / 3.
    public var renewalDate: Date {
        let total = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        return certificate.notValidAfter - total * NodeCredentials.renewalFraction
    }

    /// True when less than a third of the validity remains (or the certificate already expired).
    public func needsRenewal(now: Date) -> Bool {
        now >= renewalDate
    }

    public func save(to directory: String) throws(PKIError) {
        try SecureFile.makeDirectory(directory)
        let keyPEM: String
        let certificatePEM: String
        let caPEM: String
        do {
            keyPEM = try privateKey.serializeAsPEM().pemString
            certificatePEM = try certificate.serializeAsPEM().pemString
            caPEM = try caCertificate.serializeAsPEM().pemString
        } catch {
            throw .crypto("\(error)")
        }
        // Key first: a crash between writes leaves an unusable set that `load` reports, never a
        // certificate paired with the wrong key.
        try SecureFile.write(
            Array((keyPEM + "\n").utf8),
            to: SecureFile.join(directory, NodeCredentials.keyFile))
        try SecureFile.write(
            Array((certificatePEM + "\n").utf8),
            to: SecureFile.join(directory, NodeCredentials.certificateFile))
        try SecureFile.write(
            Array((caPEM + "\n").utf8), to: SecureFile.join(directory, NodeCredentials.caFile))
    }

    /// The stored credentials, or nil when none were ever saved here (the node must join).
    public static func load(from directory: String) throws(PKIError) -> NodeCredentials? {
        let keyPath = SecureFile.join(directory, keyFile)
        let certificatePath = SecureFile.join(directory, certificateFile)
        let caPath = SecureFile.join(directory, caFile)
        let key = try SecureFile.read(keyPath)
        let certificate = try SecureFile.read(certificatePath)
        let ca = try SecureFile.read(caPath)
        if key == nil && certificate == nil && ca == nil {
            return nil
        }
        guard let key, let certificate, let ca else {
            let missing = [(key, keyFile), (certificate, certificateFile), (ca, caFile)].filter {
                $0.0 == nil
            }
            throw .incompleteCredentials(directory: directory, missing: missing.map(\.1))
        }
        let credentials = try NodeCredentials(
            privateKey: PEMFile.p256Key(key, path: keyPath),
            certificate: PEMFile.certificate(certificate, path: certificatePath),
            caCertificate: PEMFile.certificate(ca, path: caPath))
        guard
            credentials.caCertificate.publicKey.isValidSignature(
                credentials.certificate.signature, for: credentials.certificate)
        else {
            throw .malformed(path: certificatePath, reason: "not signed by the CA in \(caFile)")
        }
        return credentials
    }
}
