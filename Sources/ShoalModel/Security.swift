/// Body of `POST /v1/join` (join listener): the token and a PEM CSR for the node's fresh key.
public struct JoinRequest: Codable, Equatable, Sendable {
    public var token: String
    public var csr: String

    public init(token: String, csr: String) {
        self.token = token
        self.csr = csr
    }
}

/// Answer to a join or a renewal: the node's certificate and the CA certificate, both PEM.
public struct IssuedCertificate: Codable, Equatable, Sendable {
    public var nodeID: String
    public var role: String
    public var certificate: String
    public var caCertificate: String
    /// Where the manager's mutual TLS API listens (`ADDR:PORT`), for the node to use from now on.
    public var managerAddress: String?

    public init(
        nodeID: String, role: String, certificate: String, caCertificate: String,
        managerAddress: String? = nil
    ) {
        self.nodeID = nodeID
        self.role = role
        self.certificate = certificate
        self.caCertificate = caCertificate
        self.managerAddress = managerAddress
    }
}

/// Body of `POST /v1/nodes/{id}/renew`: a PEM CSR for a new key.
public struct RenewRequest: Codable, Equatable, Sendable {
    public var csr: String

    public init(csr: String) { self.csr = csr }
}

/// `GET /v1/join/ca`: the CA certificate, which the joining node pins by its token's digest.
public struct CACertificateResponse: Codable, Equatable, Sendable {
    public var certificate: String

    public init(certificate: String) { self.certificate = certificate }
}

/// The current join token of one role (`GET /v1/cluster/tokens/{role}`, and the rotation's answer).
public struct JoinTokenResponse: Codable, Equatable, Sendable {
    public var role: String
    public var token: String

    public init(role: String, token: String) {
        self.role = role
        self.token = token
    }
}
