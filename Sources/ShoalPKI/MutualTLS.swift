import Foundation
import NIOCore
import NIOSSL
import X509

/// TLS 1.3 configurations for the control plane. Both sides present a node certificate and trust only
/// the cluster CA. Peer checks (CA signature, validity, cluster, revocation, roles, manager SAN) run in a
/// custom verification callback through `PeerVerifier`, because BoringSSL's own check knows nothing of
/// Shoal's revocation list; use the handlers built by `MutualTLSServer`/`MutualTLSClient`.
public enum ShoalTLS {
    /// Server side: TLS 1.3 only, a client certificate is required, only the cluster CA is trusted.
    public static func serverConfiguration(_ credentials: NodeCredentials) throws(PKIError)
        -> TLSConfiguration
    {
        let material = try NIOMaterial(credentials)
        var configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: [.certificate(material.certificate)], privateKey: .privateKey(material.key),
            trustRoots: .certificates([material.ca]))
        configuration.minimumTLSVersion = .tlsv13
        // Any mode other than .none makes BoringSSL fail the handshake when no client certificate comes.
        configuration.certificateVerification = .noHostnameVerification
        configuration.sendCANameList = true
        return configuration
    }

    /// Client side: TLS 1.3 only, presents the node certificate, trusts only the cluster CA. The manager's
    /// identity (role and SAN) is checked by the `MutualTLSClient` handler's callback.
    public static func clientConfiguration(_ credentials: NodeCredentials) throws(PKIError)
        -> TLSConfiguration
    {
        let material = try NIOMaterial(credentials)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateChain = [.certificate(material.certificate)]
        configuration.privateKey = .privateKey(material.key)
        configuration.trustRoots = .certificates([material.ca])
        configuration.certificateVerification = .noHostnameVerification
        return configuration
    }

    /// The identity of the peer of a connection whose handshake completed through our verification.
    public static func peerIdentity(of handler: NIOSSLHandler) -> NodeIdentity? {
        guard let leaf = handler.peerValidatedCertificateChain?.leaf,
            let der = try? leaf.toDERBytes(),
            let certificate = try? Certificate(derEncoded: der)
        else { return nil }
        return try? NodeIdentity(certificate: certificate)
    }

    /// Runs `verify` on what the peer presented and answers NIOSSL's promise.
    static func complete(
        _ presented: [NIOSSLCertificate], ca: NIOSSLCertificate,
        promise: EventLoopPromise<NIOSSLVerificationResultWithMetadata>,
        onRefused: (@Sendable (PeerVerificationError) -> Void)?,
        verify: (Certificate) throws(PeerVerificationError) -> NodeIdentity
    ) {
        do throws(PeerVerificationError) {
            guard let leaf = presented.first else { throw .noCertificate }
            let certificate: Certificate
            do {
                certificate = try Certificate(derEncoded: leaf.toDERBytes())
            } catch {
                throw .malformed("cannot decode certificate: \(error)")
            }
            _ = try verify(certificate)
            promise.succeed(
                .certificateVerified(VerificationMetadata(ValidatedCertificateChain([leaf, ca]))))
        } catch {
            onRefused?(error)
            promise.succeed(.failed)
        }
    }
}

/// NIOSSL's forms of a node's key, certificate and CA.
struct NIOMaterial {
    let certificate: NIOSSLCertificate
    let key: NIOSSLPrivateKey
    let ca: NIOSSLCertificate

    init(_ credentials: NodeCredentials) throws(PKIError) {
        do {
            certificate = try NIOSSLCertificate(bytes: credentials.certificate.derBytes(), format: .der)
            key = try NIOSSLPrivateKey(
                bytes: Array(credentials.privateKey.serializeAsPEM().pemString.utf8), format: .pem)
            ca = try NIOSSLCertificate(bytes: credentials.caCertificate.derBytes(), format: .der)
        } catch {
            throw .crypto("\(error)")
        }
    }
}

/// The manager's side of a mutual TLS control connection.
public struct MutualTLSServer: Sendable {
    public let context: NIOSSLContext
    public let verifier: PeerVerifier
    public let acceptedRoles: Set<NodeRole>
    private let ca: NIOSSLCertificate
    private let now: @Sendable () -> Date
    private let onRefused: (@Sendable (PeerVerificationError) -> Void)?

    /// - Parameters:
    ///   - revocations: the manager's live revocation list; checked on every handshake.
    ///   - onRefused: called with the reason a client certificate was refused (for the log).
    public init(
        credentials: NodeCredentials, revocations: RevocationList,
        acceptedRoles: Set<NodeRole> = Set(NodeRole.allCases),
        now: @escaping @Sendable () -> Date = { Date() },
        onRefused: (@Sendable (PeerVerificationError) -> Void)? = nil
    ) throws(PKIError) {
        let material = try NIOMaterial(credentials)
        do {
            context = try NIOSSLContext(configuration: ShoalTLS.serverConfiguration(credentials))
        } catch let error as PKIError {
            throw error
        } catch {
            throw .crypto("\(error)")
        }
        verifier = PeerVerifier(credentials: credentials, revocations: revocations)
        self.acceptedRoles = acceptedRoles
        ca = material.ca
        self.now = now
        self.onRefused = onRefused
    }

    /// A handler for one accepted connection; put it first in the child channel's pipeline.
    public func makeHandler() -> NIOSSLServerHandler {
        let verifier = verifier
        let ca = ca
        let now = now
        let onRefused = onRefused
        let acceptedRoles = acceptedRoles
        return NIOSSLServerHandler(context: context) { presented, promise in
            ShoalTLS.complete(presented, ca: ca, promise: promise, onRefused: onRefused) {
                (certificate: Certificate) throws(PeerVerificationError) -> NodeIdentity in
                let identity = try verifier.verify(certificate, now: now())
                guard acceptedRoles.contains(identity.role) else {
                    throw .roleNotAccepted(
                        role: identity.role, accepted: acceptedRoles.sorted { $0.rawValue < $1.rawValue })
                }
                return identity
            }
        }
    }
}

/// A node's side of a mutual TLS control connection to the manager at `managerAddress`.
/// After a renewal build a new one: open connections keep their session, new ones use the new certificate.
public struct MutualTLSClient: Sendable {
    public let context: NIOSSLContext
    public let verifier: PeerVerifier
    public let managerAddress: String
    private let ca: NIOSSLCertificate
    private let now: @Sendable () -> Date
    private let onRefused: (@Sendable (PeerVerificationError) -> Void)?

    public init(
        credentials: NodeCredentials, managerAddress: String,
        now: @escaping @Sendable () -> Date = { Date() },
        onRefused: (@Sendable (PeerVerificationError) -> Void)? = nil
    ) throws(PKIError) {
        let material = try NIOMaterial(credentials)
        do {
            context = try NIOSSLContext(configuration: ShoalTLS.clientConfiguration(credentials))
        } catch let error as PKIError {
            throw error
        } catch {
            throw .crypto("\(error)")
        }
        verifier = PeerVerifier(credentials: credentials)
        self.managerAddress = managerAddress
        ca = material.ca
        self.now = now
        self.onRefused = onRefused
    }

    public func makeHandler() throws(PKIError) -> NIOSSLClientHandler {
        let verifier = verifier
        let ca = ca
        let now = now
        let onRefused = onRefused
        let address = managerAddress
        // IP literals are not sent as SNI; the address is checked against the certificate's SAN below.
        let serverName = IPAddressBytes.parse(address) == nil ? address : nil
        do {
            return try NIOSSLClientHandler(
                context: context, serverHostname: serverName,
                customVerificationCallbackWithMetadata: { presented, promise in
                    ShoalTLS.complete(presented, ca: ca, promise: promise, onRefused: onRefused) {
                        (certificate: Certificate) throws(PeerVerificationError) -> NodeIdentity in
                        try verifier.verifyManager(certificate, address: address, now: now())
                    }
                })
        } catch {
            throw .crypto("\(error)")
        }
    }
}
