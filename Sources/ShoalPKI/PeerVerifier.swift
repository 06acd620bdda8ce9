import Foundation
import X509

/// Verifies a peer's certificate against the cluster CA at a given time: issued and signed by the CA,
/// a leaf, within its validity, of this cluster, not revoked. Returns the identity it proves.
/// The chain is always leaf -> root: Shoal's CA signs node certificates directly.
public struct PeerVerifier: Sendable {
    public let caCertificate: Certificate
    public let clusterID: String
    public let revocations: RevocationList

    public init(caCertificate: Certificate, clusterID: String, revocations: RevocationList = RevocationList())
    {
        self.caCertificate = caCertificate
        self.clusterID = clusterID
        self.revocations = revocations
    }

    /// A verifier from a node's credentials (the cluster id is read from the pinned CA's subject).
    public init(credentials: NodeCredentials, revocations: RevocationList = RevocationList()) {
        self.init(
            caCertificate: credentials.caCertificate, clusterID: credentials.identity.clusterID,
            revocations: revocations)
    }

    public func verify(derBytes: [UInt8], now: Date) throws(PeerVerificationError) -> NodeIdentity {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: derBytes)
        } catch {
            throw .malformed("cannot decode certificate: \(error)")
        }
        return try verify(certificate, now: now)
    }

    public func verify(_ certificate: Certificate, now: Date) throws(PeerVerificationError) -> NodeIdentity {
        // Signature first: nothing in a certificate we did not issue is worth looking at.
        guard certificate.issuer == caCertificate.subject,
            caCertificate.publicKey.isValidSignature(certificate.signature, for: certificate)
        else {
            throw .otherCA(issuer: certificate.issuer.description)
        }
        if certificate == caCertificate {
            throw .notALeaf
        }
        if case .some(.isCertificateAuthority) = try? certificate.extensions.basicConstraints {
            throw .notALeaf
        }
        if now < certificate.notValidBefore {
            throw .notYetValid(notValidBefore: certificate.notValidBefore)
        }
        if now > certificate.notValidAfter {
            throw .expired(notValidAfter: certificate.notValidAfter)
        }
        let identity = try NodeIdentity(certificate: certificate)
        guard identity.clusterID == clusterID else {
            throw .wrongCluster(expected: clusterID, found: identity.clusterID)
        }
        if revocations.isRevoked(nodeID: identity.nodeID, serial: identity.serial) {
            throw .revoked(nodeID: identity.nodeID, serial: identity.serial)
        }
        return identity
    }

    /// Client side check of the manager: role manager and a SAN naming the address we dialled.
    public func verifyManager(_ certificate: Certificate, address: String, now: Date)
        throws(PeerVerificationError) -> NodeIdentity
    {
        let identity = try verify(certificate, now: now)
        guard identity.role == .manager else {
            throw .roleNotAccepted(role: identity.role, accepted: [.manager])
        }
        let names: SubjectAlternativeNames
        do {
            names = try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames()
        } catch {
            throw .malformed("subject alternative names: \(error)")
        }
        let expectedIP = IPAddressBytes.parse(address)
        var found: [String] = []
        for name in names {
            switch name {
            case .ipAddress(let octets):
                if let expectedIP, Array(octets.bytes) == expectedIP { return identity }
                found.append(IPAddressBytes.format(octets.bytes))
            case .dnsName(let dns):
                if expectedIP == nil, dns.lowercased() == address.lowercased() { return identity }
                found.append(dns)
            default:
                continue
            }
        }
        throw .serverNameMismatch(expected: address, found: found)
    }
}
