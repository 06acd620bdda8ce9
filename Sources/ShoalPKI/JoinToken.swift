import Crypto
import Foundation
import X509

/// A join token, in the spirit of Swarm's `SWMTKN-1-<digest>-<secret>`:
/// `SHOAL-1-<CA digest: 50 base36 chars of SHA-256 of the CA certificate DER>-<secret: 25 base36 chars, 128 bits>`.
/// The digest lets a joining node pin the CA before trusting it; the secret authenticates the join.
public struct JoinToken: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let prefix = "SHOAL"
    public static let version = "1"
    static let digestLength = 50
    static let secretLength = 25

    public let caDigest: String
    public let secret: String

    /// A new token for the CA with this digest, with a fresh random secret.
    public static func generate(caDigest: String) -> JoinToken {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
        return JoinToken(caDigest: caDigest, secret: Base36.encode(bytes, width: secretLength))
    }

    init(caDigest: String, secret: String) {
        self.caDigest = caDigest
        self.secret = secret
    }

    public init(parsing text: String) throws(JoinTokenError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == JoinToken.prefix else {
            throw .malformed("expected \(JoinToken.prefix)-1-<ca digest>-<secret>")
        }
        guard parts[1] == JoinToken.version else {
            throw .unsupportedVersion(String(parts[1]))
        }
        guard Base36.isValid(parts[2], length: JoinToken.digestLength) else {
            throw .malformed("the CA digest must be \(JoinToken.digestLength) characters 0-9a-z")
        }
        guard Base36.isValid(parts[3], length: JoinToken.secretLength) else {
            throw .malformed("the secret must be \(JoinToken.secretLength) characters 0-9a-z")
        }
        self.init(caDigest: String(parts[2]), secret: String(parts[3]))
    }

    public var description: String { "\(JoinToken.prefix)-\(JoinToken.version)-\(caDigest)-\(secret)" }

    /// Joining side: accepts the CA certificate a manager sent only if its digest is the token's.
    public func pinCA(certificateDER der: [UInt8]) throws(JoinTokenError) -> Certificate {
        let actual = ClusterCA.digest(ofCertificateDER: der)
        guard constantTimeEquals(actual, caDigest) else {
            throw .caDigestMismatch(expected: caDigest, actual: actual)
        }
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw .malformed("the pinned CA certificate does not decode: \(error)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: error.description)
        }
    }
}

/// The roles a join token can grant (the admin certificate is never obtained by joining).
public enum JoinRole: String, Sendable, Hashable, Codable, CaseIterable {
    case worker
    case manager

    public var nodeRole: NodeRole { self == .worker ? .worker : .manager }
}

/// The manager's two current tokens. Persist it (Codable); rotate with `rotating(_:)`.
public struct JoinTokens: Sendable, Hashable, Codable {
    public private(set) var worker: JoinToken
    public private(set) var manager: JoinToken

    public init(caDigest: String) {
        worker = .generate(caDigest: caDigest)
        manager = .generate(caDigest: caDigest)
    }

    public func token(for role: JoinRole) -> JoinToken {
        role == .worker ? worker : manager
    }

    /// A new secret for `role`; the old token stops working, the other role's token is kept.
    /// Nodes that already joined hold certificates and are unaffected.
    public func rotating(_ role: JoinRole) -> JoinTokens {
        var copy = self
        switch role {
        case .worker: copy.worker = .generate(caDigest: worker.caDigest)
        case .manager: copy.manager = .generate(caDigest: manager.caDigest)
        }
        return copy
    }

    /// Manager side: which role a presented token grants. Both secrets are always compared, in constant time.
    public func verify(_ presented: String) throws(JoinTokenError) -> JoinRole {
        let token = try JoinToken(parsing: presented)
        guard constantTimeEquals(token.caDigest, worker.caDigest) else {
            throw .otherCluster
        }
        let isWorker = constantTimeEquals(token.secret, worker.secret)
        let isManager = constantTimeEquals(token.secret, manager.secret)
        if isWorker { return .worker }
        if isManager { return .manager }
        throw .wrongSecret
    }
}
