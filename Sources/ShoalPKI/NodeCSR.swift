import Crypto
import Foundation
import SwiftASN1
import X509

/// The node side of joining: a fresh P-256 key and a CSR naming the id the node asks for.
/// The CA only trusts the CSR's key; it decides the node id and role itself.
public struct NodeCSR: Sendable {
    public let privateKey: Certificate.PrivateKey
    public let request: CertificateSigningRequest

    /// Generates a key and a CSR with CN = `requestedNodeID`.
    public static func generate(requestedNodeID: String) throws(PKIError) -> NodeCSR {
        let key = P256.Signing.PrivateKey()
        do {
            let subject = try DistinguishedName { CommonName(requestedNodeID) }
            let request = try CertificateSigningRequest(
                version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
            return NodeCSR(privateKey: Certificate.PrivateKey(key), request: request)
        } catch {
            throw .crypto("\(error)")
        }
    }

    /// The CSR as PEM, for sending to the manager.
    public func pem() throws(PKIError) -> String {
        do {
            return try request.serializeAsPEM().pemString
        } catch {
            throw .crypto("\(error)")
        }
    }

    /// CA side: decodes a PEM CSR and checks it (signature valid, P-256 key).
    public static func parse(pem: String) throws(CSRError) -> CertificateSigningRequest {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(pemEncoded: pem)
        } catch {
            throw .malformed("\(error)")
        }
        try verify(request)
        return request
    }

    /// The id a node asked for (informational: the CA does not have to grant it).
    public static func requestedNodeID(of request: CertificateSigningRequest) -> String? {
        request.subject.singleValue(of: .RDNAttributeType.commonName)
    }

    static func verify(_ request: CertificateSigningRequest) throws(CSRError) {
        guard P256.Signing.PublicKey(request.publicKey) != nil else {
            throw .unsupportedKey("\(request.publicKey)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw .badSignature
        }
    }

    /// Credentials once the manager returned the certificate (and the pinned CA certificate).
    public func credentials(certificate: Certificate, caCertificate: Certificate) throws(PKIError)
        -> NodeCredentials
    {
        try NodeCredentials(privateKey: privateKey, certificate: certificate, caCertificate: caCertificate)
    }
}
