import Foundation
import ShoalModel
import ShoalPKI
import Synchronization
import X509

/// Why the manager's PKI could not be set up or used; each names what to do.
public enum SecurityError: Error, Equatable, Sendable, CustomStringConvertible {
    case notInitialized(dataDir: String)
    case alreadyInitialized(dataDir: String)
    case pki(PKIError)
    case state(path: String, reason: String)
    /// `--advertise-addr` is not an address nodes can reach.
    case badAdvertiseAddress(String)

    /// `error` as a SecurityError: kept when it is one, wrapped when it came from the PKI, else a
    /// problem with the state file at `path`.
    init(_ error: any Error, path: String) {
        switch error {
        case let error as SecurityError: self = error
        case let error as PKIError: self = .pki(error)
        default: self = .state(path: path, reason: "\(error)")
        }
    }

    public var description: String {
        switch self {
        case .notInitialized(let dir):
            return
                "no cluster CA in \(dir): run `shoald manager init --data-dir \(dir) --advertise-addr ADDR` first "
                + "(or pass --insecure-dev for an unauthenticated development manager)"
        case .alreadyInitialized(let dir):
            return "\(dir) already holds a cluster CA; refusing to create another"
        case .pki(let error): return error.description
        case .state(let path, let reason): return "\(path): \(reason)"
        case .badAdvertiseAddress(let reason): return "--advertise-addr: \(reason)"
        }
    }
}

/// The manager's security state: the cluster CA, its own and the admin credentials, the join tokens
/// and the revocation list. Tokens and revocations are persisted (0600) under `<data dir>/pki`.
public final class ClusterSecurity: Sendable {
    public let dataDir: String
    public let ca: ClusterCA
    private let manager: Mutex<NodeCredentials>
    /// The manager's own credentials (renewed by `renewOwnCredentialsIfNeeded`).
    public var managerCredentials: NodeCredentials { manager.withLock { $0 } }
    public let revocations: RevocationList
    /// Validity of issued node certificates (tests shorten it to exercise renewal).
    public let nodeValidity: TimeInterval
    /// The address in the manager certificate's SAN, which nodes dial.
    public let advertiseAddress: String
    private let tokens: Mutex<JoinTokens>
    private let records: Mutex<[CertificateRecord]>
    /// Serializes revocations: each one is persisted with every earlier one before it takes effect.
    private let revocationWrites = Mutex(())
    var issuedRecords: [CertificateRecord] { records.withLock { $0 } }
    private let apiPort = Mutex<Int?>(nil)

    struct ClusterFile: Codable {
        var advertiseAddress: String
    }

    /// The API listener's bound port, handed to joining nodes with their certificate.
    public func setAPIPort(_ port: Int) { apiPort.withLock { $0 = port } }
    public var managerAddress: String? { apiPort.withLock { $0 }.map { "\(advertiseAddress):\($0)" } }

    public static func pkiDirectory(_ dataDir: String) -> String { SecureFile.join(dataDir, "pki") }
    public static func managerDirectory(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "manager")
    }
    public static func adminDirectory(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "admin")
    }
    /// The admin unix socket lives in a 0700 directory and is itself 0600.
    public static func socketPath(_ dataDir: String) -> String {
        SecureFile.join(SecureFile.join(dataDir, "run"), "shoald.sock")
    }
    static func tokensPath(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "tokens.json")
    }
    static func clusterPath(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "cluster.json")
    }
    static func revocationsPath(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "revocations.json")
    }

    /// `shoald manager init`: the CA, the manager's certificate (advertise address as IP SAN), the admin
    /// certificate for shoalctl, and both join tokens.
    @discardableResult
    public static func initialize(dataDir: String, advertiseAddress: String, now: Date = Date())
        throws(SecurityError)
        -> JoinTokens
    {
        let pki = pkiDirectory(dataDir)
        guard let address = IPv4Address(advertiseAddress) else {
            throw .badAdvertiseAddress("\(advertiseAddress) is not an IPv4 address")
        }
        if let problem = AddressRules.underlayProblem(address) { throw .badAdvertiseAddress(problem) }
        if SecureFile.exists(SecureFile.join(pki, "ca.crt")) { throw .alreadyInitialized(dataDir: dataDir) }
        do {
            let ca = try ClusterCA.create(now: now)
            let manager = try ca.issueCredentials(
                nodeID: ObjectID.make(), role: .manager, now: now, ipAddresses: [advertiseAddress])
            let admin = try ca.issueCredentials(nodeID: "admin-" + ObjectID.make(), role: .admin, now: now)
            let tokens = JoinTokens(caDigest: ca.digest)
            let records = [manager, admin].map { CertificateRecord(identity: $0.identity, issuedBy: "init") }
            try ca.save(to: pki)
            try manager.save(to: managerDirectory(dataDir))
            try admin.save(to: adminDirectory(dataDir))
            try writeJSON(tokens, to: tokensPath(dataDir))
            try writeJSON(RevocationList.Snapshot(), to: revocationsPath(dataDir))
            try writeJSON(records, to: issuedPath(dataDir))
            try writeJSON(ClusterFile(advertiseAddress: advertiseAddress), to: clusterPath(dataDir))
            return tokens
        } catch {
            throw SecurityError(error, path: pki)
        }
    }

    /// Loads what `initialize` wrote; a manager without it refuses to start.
    public init(dataDir: String, nodeValidity: TimeInterval = ClusterCA.defaultNodeValidity)
        throws(SecurityError)
    {
        let pki = Self.pkiDirectory(dataDir)
        guard SecureFile.exists(SecureFile.join(pki, "ca.crt")) else {
            throw .notInitialized(dataDir: dataDir)
        }
        self.dataDir = dataDir
        self.nodeValidity = nodeValidity
        do {
            ca = try ClusterCA.load(from: pki)
            guard let credentials = try NodeCredentials.load(from: Self.managerDirectory(dataDir)) else {
                throw SecurityError.state(
                    path: Self.managerDirectory(dataDir), reason: "manager credentials missing")
            }
            manager = Mutex(credentials)
            advertiseAddress = try Self.readJSON(ClusterFile.self, from: Self.clusterPath(dataDir))
                .advertiseAddress
            tokens = Mutex(try Self.readJSON(JoinTokens.self, from: Self.tokensPath(dataDir)))
            revocations = RevocationList(
                try Self.readJSON(RevocationList.Snapshot.self, from: Self.revocationsPath(dataDir)))
            // A data directory made before issuance was recorded has no list yet.
            let issued = Self.issuedPath(dataDir)
            records = Mutex(
                SecureFile.exists(issued) ? try Self.readJSON([CertificateRecord].self, from: issued) : [])
        } catch {
            throw SecurityError(error, path: pki)
        }
    }

    /// The manager holds the CA key, so it renews its own certificate (same id, SAN) and the admin
    /// certificate locally, on the same rule as nodes (less than a third of the validity left).
    /// Returns true when the manager's certificate changed (the listeners must reload it).
    public func renewOwnCredentialsIfNeeded(now: Date = Date()) throws(SecurityError) -> Bool {
        do {
            let adminDirectory = Self.adminDirectory(dataDir)
            if let admin = try NodeCredentials.load(from: adminDirectory), admin.needsRenewal(now: now) {
                let renewed = try ca.issueCredentials(nodeID: admin.identity.nodeID, role: .admin, now: now)
                try record(renewed.identity, issuedBy: "renew")
                try renewed.save(to: adminDirectory)
            }
            let current = managerCredentials
            guard current.needsRenewal(now: now) else { return false }
            let renewed = try ca.issueCredentials(
                nodeID: current.identity.nodeID, role: .manager, now: now, ipAddresses: [advertiseAddress])
            try record(renewed.identity, issuedBy: "renew")
            try renewed.save(to: Self.managerDirectory(dataDir))
            manager.withLock { $0 = renewed }
            return true
        } catch {
            throw SecurityError(error, path: Self.pkiDirectory(dataDir))
        }
    }

    /// Adds a signed certificate to the issuance records, persisted before the certificate is handed out.
    func record(_ identity: NodeIdentity, issuedBy: String) throws(SecurityError) {
        try records.withLock { (records: inout [CertificateRecord]) throws(SecurityError) in
            let updated = records + [CertificateRecord(identity: identity, issuedBy: issuedBy)]
            try Self.writeJSON(updated, to: Self.issuedPath(dataDir))
            records = updated
        }
    }

    public func token(for role: JoinRole) -> JoinToken { tokens.withLock { $0.token(for: role) } }

    /// A new secret for `role`, persisted before it is used; the old token is refused from now on.
    public func rotate(_ role: JoinRole) throws(SecurityError) -> JoinToken {
        try tokens.withLock { (tokens: inout JoinTokens) throws(SecurityError) -> JoinToken in
            let rotated = tokens.rotating(role)
            try Self.writeJSON(rotated, to: Self.tokensPath(dataDir))
            tokens = rotated
            return rotated.token(for: role)
        }
    }

    /// Revokes every certificate of `nodeID`: persisted first, then in force.
    public func revoke(nodeID: String) throws(SecurityError) {
        try persistRevocation({ _ = $0.nodeIDs.insert(nodeID) }, apply: { $0.revoke(nodeID: nodeID) })
    }

    /// Revokes one certificate by its serial (lowercase or uppercase hex): persisted first, then in force.
    public func revoke(serial: String) throws(SecurityError) {
        let serial = serial.lowercased()
        try persistRevocation({ _ = $0.serials.insert(serial) }, apply: { $0.revoke(serial: serial) })
    }

    /// One revocation at a time: the file written holds every earlier one (two concurrent ones
    /// each wrote their own snapshot before, and the last write lost the other).
    private func persistRevocation(
        _ change: (inout RevocationList.Snapshot) -> Void,
        apply: (RevocationList) -> Void
    ) throws(SecurityError) {
        try revocationWrites.withLock { (_: inout ()) throws(SecurityError) in
            var snapshot = revocations.snapshot
            change(&snapshot)
            try Self.writeJSON(snapshot, to: Self.revocationsPath(dataDir))
            apply(revocations)
        }
    }

    /// Checks the token and signs the CSR with a fresh node id. Nothing is stored: the node registers
    /// itself afterwards over mutual TLS.
    public func join(_ request: JoinRequest, now: Date = Date()) throws(APIError) -> IssuedCertificate {
        let role: JoinRole
        do {
            role = try tokens.withLock { (tokens: inout JoinTokens) throws(JoinTokenError) -> JoinRole in
                try tokens.verify(request.token)
            }
        } catch {
            throw .unauthorized(error.description)
        }
        let csr = try Self.parseCSR(request.csr)
        let nodeID = ObjectID.make()
        let certificate: Certificate
        do {
            certificate = try ca.issue(
                csr: csr, nodeID: nodeID, role: role.nodeRole, now: now, validity: nodeValidity)
        } catch {
            throw .invalid(field: "csr", reason: "\(error)")
        }
        return try recordAndAnswer(certificate, issuedBy: "join")
    }

    /// Renewal for an identity proven by its current certificate.
    public func renew(_ request: RenewRequest, for identity: NodeIdentity, now: Date = Date())
        throws(APIError)
        -> IssuedCertificate
    {
        let csr = try Self.parseCSR(request.csr)
        let certificate: Certificate
        do {
            certificate = try ca.renew(csr: csr, for: identity, now: now, validity: nodeValidity)
        } catch {
            throw .invalid(field: "csr", reason: "\(error)")
        }
        let answer = try recordAndAnswer(certificate, issuedBy: "renew")
        // The old certificate ends with the renewal: a copy of it (a leaked key) is useless from now on.
        do {
            try revoke(serial: identity.serial)
        } catch {
            throw .internalError("the renewed certificate's predecessor could not be revoked: \(error)")
        }
        return answer
    }

    /// Records a signed certificate, then builds the answer; nothing unrecorded leaves the manager.
    private func recordAndAnswer(_ certificate: Certificate, issuedBy: String) throws(APIError)
        -> IssuedCertificate
    {
        do {
            let identity = try NodeIdentity(certificate: certificate)
            try record(identity, issuedBy: issuedBy)
            return IssuedCertificate(
                nodeID: identity.nodeID, role: identity.role.rawValue, certificate: try certificate.pemText(),
                caCertificate: try ca.certificate.pemText(), managerAddress: managerAddress)
        } catch {
            throw .internalError("the certificate was not issued: \(error)")
        }
    }

    private static func parseCSR(_ pem: String) throws(APIError) -> CertificateSigningRequest {
        do {
            return try NodeCSR.parse(pem: pem)
        } catch {
            // The parser's own text names source files of the ASN.1 library: not for users.
            throw .invalid(field: "csr", reason: "is not a PEM-encoded PKCS#10 certificate signing request")
        }
    }

    static func writeJSON(_ value: some Encodable, to path: String) throws(SecurityError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            try SecureFile.write(Array(try encoder.encode(value)), to: path)
        } catch {
            throw SecurityError(error, path: path)
        }
    }

    static func readJSON<T: Decodable>(_ type: T.Type, from path: String) throws(SecurityError) -> T {
        do {
            guard let bytes = try SecureFile.read(path) else {
                throw SecurityError.state(path: path, reason: "missing")
            }
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw SecurityError(error, path: path)
        }
    }
}
