import Foundation
import ShoalModel
import ShoalPKI

/// One certificate the manager signed: who it names and how it came about. The list is what an
/// admin audits (`GET /v1/cluster/certificates`) and what registration checks: only a recorded
/// identity may register, so a leaked token cannot mint invisible nodes.
public struct CertificateRecord: Codable, Equatable, Sendable {
    /// Lowercase hex, as `NodeIdentity.serial` and the revocation list.
    public var serial: String
    public var nodeID: String
    public var role: String
    /// `init` (the manager's and admin's own), `join` or `renew`.
    public var issuedBy: String
    /// ISO 8601, UTC.
    public var notValidBefore: String
    public var notValidAfter: String
    /// Filled when listed: the serial or the node id is on the revocation list.
    public var revoked: Bool?

    public init(identity: NodeIdentity, issuedBy: String) {
        serial = identity.serial
        nodeID = identity.nodeID
        role = identity.role.rawValue
        self.issuedBy = issuedBy
        notValidBefore = identity.notValidBefore.ISO8601Format()
        notValidAfter = identity.notValidAfter.ISO8601Format()
    }
}

extension ClusterSecurity {
    static func issuedPath(_ dataDir: String) -> String {
        SecureFile.join(pkiDirectory(dataDir), "issued.json")
    }

    /// Every certificate signed so far, with its revocation state.
    public var certificates: [CertificateRecord] {
        let revoked = revocations.snapshot
        return issuedRecords.map { record in
            var record = record
            record.revoked =
                revoked.serials.contains(record.serial) || revoked.nodeIDs.contains(record.nodeID)
            return record
        }
    }

    /// Whether `identity`'s certificate was issued by this manager (and so may register).
    public func wasIssued(_ identity: NodeIdentity) -> Bool {
        issuedRecords.contains { $0.serial == identity.serial && $0.nodeID == identity.nodeID }
    }
}
