import Foundation
import SwiftASN1
import X509

/// What a certificate lets its holder be. Stored in the subject's OU, as swarmkit does.
public enum NodeRole: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case worker
    case manager
    case admin

    /// The OU value written into certificates (`shoal-worker`, `shoal-manager`, `shoal-admin`).
    public var organizationalUnit: String { "shoal-\(rawValue)" }

    public init?(organizationalUnit: String) {
        guard organizationalUnit.hasPrefix("shoal-") else { return nil }
        self.init(rawValue: String(organizationalUnit.dropFirst("shoal-".count)))
    }

    public var description: String { rawValue }
}

/// The identity a verified certificate carries: CN = node id, OU = role, O = cluster id.
public struct NodeIdentity: Sendable, Hashable, CustomStringConvertible {
    public var nodeID: String
    public var role: NodeRole
    public var clusterID: String
    /// Certificate serial number, lowercase hex (for revocation by serial and for logs).
    public var serial: String
    public var notValidBefore: Date
    public var notValidAfter: Date

    public init(
        nodeID: String, role: NodeRole, clusterID: String, serial: String, notValidBefore: Date,
        notValidAfter: Date
    ) {
        self.nodeID = nodeID
        self.role = role
        self.clusterID = clusterID
        self.serial = serial
        self.notValidBefore = notValidBefore
        self.notValidAfter = notValidAfter
    }

    /// Reads the identity fields of a certificate. This does NOT verify it: use `PeerVerifier`.
    public init(certificate: Certificate) throws(PeerVerificationError) {
        let subject = certificate.subject
        guard let nodeID = subject.singleValue(of: .RDNAttributeType.commonName) else {
            throw .malformed("subject has no single common name (node id)")
        }
        guard let unit = subject.singleValue(of: .RDNAttributeType.organizationalUnitName) else {
            throw .malformed("subject has no single organizational unit (role)")
        }
        guard let role = NodeRole(organizationalUnit: unit) else {
            throw .malformed("unknown role \"\(unit)\" in organizational unit")
        }
        guard let clusterID = subject.singleValue(of: .RDNAttributeType.organizationName) else {
            throw .malformed("subject has no single organization (cluster id)")
        }
        self.init(
            nodeID: nodeID, role: role, clusterID: clusterID,
            serial: Hex.encode(certificate.serialNumber.bytes),
            notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter)
    }

    public var description: String { "\(role) \(nodeID) of cluster \(clusterID)" }
}

extension DistinguishedName {
    /// The string value of an attribute that occurs exactly once; nil when absent, repeated or not a string.
    func singleValue(of type: ASN1ObjectIdentifier) -> String? {
        var found: [String] = []
        for rdn in self {
            for attribute in rdn where attribute.type == type {
                guard let value = String(attribute.value) else { return nil }
                found.append(value)
            }
        }
        return found.count == 1 ? found[0] : nil
    }
}
