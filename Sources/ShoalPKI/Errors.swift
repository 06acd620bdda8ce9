import Foundation

/// Files, keys and library failures. Every case names what failed so the CLI can print it as is.
public enum PKIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call on `path` failed with `errno`.
    case io(path: String, operation: String, errno: Int32)
    /// A secret file is readable by group or others; we refuse it like ssh does.
    case insecureFileMode(path: String, mode: UInt32)
    /// Some but not all of a credential set exists under a directory.
    case incompleteCredentials(directory: String, missing: [String])
    /// A PEM/DER document could not be decoded.
    case malformed(path: String, reason: String)
    /// The private key does not belong to the certificate.
    case keyMismatch
    /// The CA certificate on disk is not a usable Shoal CA.
    case notACertificateAuthority(reason: String)
    /// An address for a subject alternative name is not an IPv4/IPv6 literal.
    case invalidAddress(String)
    /// A node id the CA would write into a certificate is not acceptable.
    case invalidNodeID(String)
    /// The crypto or X.509 library failed; the message is the library's.
    case crypto(String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let errno):
            return "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case .insecureFileMode(let path, let mode):
            return "\(path) has mode \(String(mode, radix: 8)); secret files must be 0600"
        case .incompleteCredentials(let directory, let missing):
            return "incomplete credentials in \(directory): missing \(missing.joined(separator: ", "))"
        case .malformed(let path, let reason):
            return "\(path): malformed: \(reason)"
        case .keyMismatch:
            return "the private key does not match the certificate"
        case .notACertificateAuthority(let reason):
            return "not a Shoal cluster CA: \(reason)"
        case .invalidAddress(let address):
            return "\"\(address)\" is not an IP address"
        case .invalidNodeID(let id):
            return "invalid node id \"\(id)\": use 1-64 characters a-z, A-Z, 0-9, '-', '_', '.'"
        case .crypto(let message):
            return "crypto failure: \(message)"
        }
    }
}

/// A certificate signing request the CA refuses.
public enum CSRError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    /// The CSR is not signed by the key it carries.
    case badSignature
    /// Only P-256 keys are accepted.
    case unsupportedKey(String)

    public var description: String {
        switch self {
        case .malformed(let reason): return "malformed certificate signing request: \(reason)"
        case .badSignature: return "certificate signing request signature does not verify"
        case .unsupportedKey(let key): return "unsupported key type \(key): nodes must use P-256"
        }
    }
}

/// A join token that cannot be used.
public enum JoinTokenError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not of the form SHOAL-1-<digest>-<secret>.
    case malformed(String)
    /// A well-formed token of a format version we do not speak.
    case unsupportedVersion(String)
    /// The token was made for another cluster (its CA digest is not this CA's).
    case otherCluster
    /// The CA certificate a manager presented does not match the digest in the token (joining side).
    case caDigestMismatch(expected: String, actual: String)
    /// The digest matches but the secret is not a current token (wrong, or rotated away).
    case wrongSecret

    public var description: String {
        switch self {
        case .malformed(let reason): return "malformed join token: \(reason)"
        case .unsupportedVersion(let version):
            return "join token version \(version) is not supported (expected 1)"
        case .otherCluster: return "the join token belongs to another cluster"
        case .caDigestMismatch(let expected, let actual):
            return "the manager's CA certificate digest \(actual) does not match the token's \(expected)"
        case .wrongSecret: return "invalid join token secret (wrong or rotated token)"
        }
    }
}

/// A peer certificate refused by `PeerVerifier`.
public enum PeerVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer presented no certificate.
    case noCertificate
    /// The certificate cannot be decoded or lacks the Shoal identity fields.
    case malformed(String)
    /// Not issued (signed) by this cluster's CA.
    case otherCA(issuer: String)
    /// A CA certificate presented as a peer certificate.
    case notALeaf
    case expired(notValidAfter: Date)
    case notYetValid(notValidBefore: Date)
    case revoked(nodeID: String, serial: String)
    /// Signed by our CA but for another cluster id.
    case wrongCluster(expected: String, found: String)
    /// The peer's role is not one this endpoint accepts (e.g. a worker certificate serving as a manager).
    case roleNotAccepted(role: NodeRole, accepted: [NodeRole])
    /// The manager certificate does not name the address we connected to.
    case serverNameMismatch(expected: String, found: [String])

    public var description: String {
        switch self {
        case .noCertificate: return "the peer presented no certificate"
        case .malformed(let reason): return "malformed peer certificate: \(reason)"
        case .otherCA(let issuer): return "certificate issued by another CA (\(issuer))"
        case .notALeaf: return "a CA certificate cannot be used as a node certificate"
        case .expired(let date): return "certificate expired at \(date)"
        case .notYetValid(let date): return "certificate not valid before \(date)"
        case .revoked(let nodeID, let serial):
            return "certificate of node \(nodeID) (serial \(serial)) is revoked"
        case .wrongCluster(let expected, let found):
            return "certificate is for cluster \(found), this is cluster \(expected)"
        case .roleNotAccepted(let role, let accepted):
            return
                "role \(role) not accepted here (accepted: \(accepted.map(\.rawValue).joined(separator: ", ")))"
        case .serverNameMismatch(let expected, let found):
            return "manager certificate names \(found.joined(separator: ", ")), not \(expected)"
        }
    }
}

/// A verified identity asking for something its role does not allow.
public enum AuthorizationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A node acting for another node (reading its feed, reporting its tasks).
    case notOwnNode(identity: String, requested: String)
    /// An admin route called without the admin certificate.
    case adminRequired(role: NodeRole)
    /// A manager-only route called by another role.
    case managerRequired(role: NodeRole)
    /// The role may not do this at all (e.g. the admin certificate reporting a task).
    case notPermitted(role: NodeRole, action: String)

    public var description: String {
        switch self {
        case .notOwnNode(let identity, let requested):
            return "node \(identity) may not act for node \(requested)"
        case .adminRequired(let role): return "admin certificate required (caller is a \(role))"
        case .managerRequired(let role): return "manager certificate required (caller is a \(role))"
        case .notPermitted(let role, let action): return "role \(role) may not \(action)"
        }
    }
}
