import Foundation
import Testing

@testable import ShoalPKI

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = "/tmp/shoalpki-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }
}

func fileMode(_ path: String) throws -> UInt32 {
    var status = stat()
    try #require(stat(path, &status) == 0)
    return UInt32(status.st_mode) & 0o777
}

let day: TimeInterval = 24 * 3600

/// A CA and a verifier's-eye set of issued credentials, shared by several test files.
struct Cluster {
    let ca: ClusterCA
    let manager: NodeCredentials
    let revocations = RevocationList()

    init(clusterID: String = ClusterCA.newID()) throws {
        ca = try ClusterCA.create(clusterID: clusterID)
        manager = try ca.issueCredentials(nodeID: "manager-1", role: .manager, ipAddresses: ["127.0.0.1"])
    }

    var verifier: PeerVerifier { ca.verifier(revocations: revocations) }

    func node(_ id: String, role: NodeRole = .worker, now: Date = Date(), validity: TimeInterval = 90 * day)
        throws -> NodeCredentials
    {
        let csr = try NodeCSR.generate(requestedNodeID: id)
        let certificate = try ca.issue(csr: csr.request, nodeID: id, role: role, now: now, validity: validity)
        return try csr.credentials(certificate: certificate, caCertificate: ca.certificate)
    }
}
