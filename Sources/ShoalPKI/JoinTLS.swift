import Foundation
import NIOCore
import NIOSSL
import X509

/// TLS for joining, before the node has a certificate: the manager's join listener authenticates
/// itself only (no client certificate), the node first fetches the CA without trusting it, pins it
/// by the token's digest, then sends its CSR and token over TLS verified against the pinned CA.
extension ShoalTLS {
    /// The join listener: TLS 1.3, the manager's certificate, no client certificate asked for.
    public static func joinServerConfiguration(_ credentials: NodeCredentials) throws(PKIError)
        -> TLSConfiguration
    {
        let material = try NIOMaterial(credentials)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(material.certificate)], privateKey: .privateKey(material.key))
        configuration.minimumTLSVersion = .tlsv13
        return configuration
    }

    /// Only for fetching the CA certificate, which the caller then pins by digest: nothing sent over
    /// this connection is secret and nothing received is trusted before the pin.
    public static func caFetchContext() throws(PKIError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .crypto("\(error)")
        }
    }
}

/// The joining node's side of the connection that carries the token and CSR: the server must hold a
/// manager certificate signed by the pinned CA.
public struct PinnedJoinClient: Sendable {
    public let context: NIOSSLContext
    private let verifier: PeerVerifier
    private let ca: NIOSSLCertificate

    /// `clusterID` comes from the pinned CA certificate's subject.
    public init(pinnedCA: Certificate) throws(PKIError) {
        guard let clusterID = pinnedCA.subject.singleValue(of: .RDNAttributeType.organizationName) else {
            throw .notACertificateAuthority(reason: "the pinned CA names no cluster (O=)")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .noHostnameVerification
        do {
            let ca = try NIOSSLCertificate(bytes: pinnedCA.derBytes(), format: .der)
            configuration.trustRoots = .certificates([ca])
            self.ca = ca
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .crypto("\(error)")
        }
        verifier = PeerVerifier(caCertificate: pinnedCA, clusterID: clusterID)
    }

    public func makeHandler() throws(PKIError) -> NIOSSLClientHandler {
        let verifier = verifier
        let ca = ca
        do {
            return try NIOSSLClientHandler(
                context: context, serverHostname: nil,
                customVerificationCallbackWithMetadata: { presented, promise in
                    ShoalTLS.complete(presented, ca: ca, promise: promise, onRefused: nil) {
                        (certificate: Certificate) throws(PeerVerificationError) -> NodeIdentity in
                        let identity = try verifier.verify(certificate, now: Date())
                        guard identity.role == .manager else {
                            throw .roleNotAccepted(role: identity.role, accepted: [.manager])
                        }
                        return identity
                    }
                })
        } catch {
            throw .crypto("\(error)")
        }
    }
}

extension Certificate {
    /// PEM text of a certificate (for the join and renewal answers).
    public func pemText() throws(PKIError) -> String {
        do {
            return try serializeAsPEM().pemString
        } catch {
            throw .crypto("\(error)")
        }
    }

    /// DER bytes of a certificate.
    public func derEncoded() throws(PKIError) -> [UInt8] {
        do {
            return try derBytes()
        } catch {
            throw .crypto("\(error)")
        }
    }
}
