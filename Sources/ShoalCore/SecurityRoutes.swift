import Foundation
import Hummingbird
import ShoalModel
import ShoalPKI

/// Errors of the security layer, each mapped to one HTTP status with the reason in the body.
public enum APIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 401: no or bad credentials (no client certificate, wrong join token).
    case unauthorized(String)
    /// 403: authenticated, but this identity may not do this.
    case forbidden(String)
    /// 400
    case invalid(field: String?, reason: String)
    /// 404: the route needs something this manager does not run (e.g. PKI with `--insecure-dev`).
    case unavailable(String)
    /// 500
    case internalError(String)

    public var description: String {
        switch self {
        case .unauthorized(let reason), .forbidden(let reason), .unavailable(let reason),
            .internalError(let reason):
            return reason
        case .invalid(let field, let reason): return field.map { "\($0): \(reason)" } ?? reason
        }
    }
}

extension ManagerAPI {
    /// Authorizes a request before its handler runs. Only mutual TLS connections carry an identity;
    /// the unix socket is admin by file permission; `--insecure-dev` checks nothing.
    static func authorize(_ access: RouteAccess, _ context: ShoalRequestContext, _ manager: Manager)
        async throws(APIError)
    {
        switch context.mode {
        case .insecure, .localSocket:
            return
        case .join:
            guard access == .join else {
                throw .unauthorized(
                    "the join listener serves only joining; use the API listener with a certificate")
            }
            return
        case .mutualTLS:
            break
        }
        guard let peer = context.peer else {
            throw .unauthorized("no verified client certificate on this connection")
        }
        // Checked at every request, not only at the handshake: a connection (or a resumed TLS
        // session) outlives a revocation or an expiry.
        if let security = context.security,
            security.revocations.isRevoked(nodeID: peer.nodeID, serial: peer.serial)
        {
            throw .unauthorized("certificate \(peer.serial) of node \(peer.nodeID) is revoked")
        }
        if peer.notValidAfter < Date() {
            throw .unauthorized("certificate \(peer.serial) of node \(peer.nodeID) has expired")
        }
        let parameter = context.parameters.get("id") ?? ""
        let action: Action
        switch access {
        case .join:
            return
        case .admin:
            action = .admin
        case .nodeRegister:
            action = .heartbeat(nodeID: peer.nodeID)
        case .nodeHeartbeat:
            action = .heartbeat(nodeID: await nodeID(parameter, manager))
        case .nodeFeed:
            action = .readFeed(nodeID: await nodeID(parameter, manager))
        case .nodeRenew:
            action = .renewCertificate(nodeID: await nodeID(parameter, manager))
        case .nodeTaskReport:
            // The node the store placed the task on, never what the request claims.
            let task = await manager.store.current().state.task(named: parameter)
            action = .reportTask(nodeID: task?.nodeID ?? "(no node: no such task or unassigned)")
        }
        do {
            try Authorizer.authorize(peer, action)
        } catch {
            throw .forbidden("\(peer.role) \(peer.nodeID) may not \(action): \(error.description)")
        }
    }

    /// `{id}` may be a node's name or id; authorization compares ids.
    static func nodeID(_ nameOrID: String, _ manager: Manager) async -> String {
        await manager.store.current().state.node(named: nameOrID)?.id ?? nameOrID
    }
}

/// Handlers of the PKI routes: join, renewal, join tokens.
enum SecurityRoutes {
    static func security(_ context: ShoalRequestContext) throws(APIError) -> ClusterSecurity {
        guard let security = context.security else {
            throw .unavailable("this manager runs with --insecure-dev: it has no cluster CA")
        }
        return security
    }

    static func caCertificate(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let security = try security(context)
        return ManagerAPI.json(CACertificateResponse(certificate: try security.ca.certificate.pemText()))
    }

    static func join(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let security = try security(context)
        let body = try await ManagerAPI.decode(JoinRequest.self, from: request)
        return ManagerAPI.json(try security.join(body))
    }

    static func renew(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let security = try security(context)
        guard let peer = context.peer else {
            throw APIError.unauthorized("renewal needs the node's current certificate (mutual TLS)")
        }
        let body = try await ManagerAPI.decode(RenewRequest.self, from: request)
        return ManagerAPI.json(try security.renew(body, for: peer))
    }

    static func role(_ context: ShoalRequestContext) throws(APIError) -> JoinRole {
        let text = context.parameters.get("role") ?? ""
        guard let role = JoinRole(rawValue: text) else {
            throw .invalid(field: "role", reason: "must be worker or manager, not \(text)")
        }
        return role
    }

    static func listCertificates(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        ManagerAPI.json(try security(context).certificates)
    }

    /// Revokes one certificate (persisted first) and closes the connections made with it.
    static func revokeCertificate(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let security = try security(context)
        let serial = (context.parameters.get("serial") ?? "").lowercased()
        guard let record = security.certificates.first(where: { $0.serial == serial }) else {
            throw StoreError.notFound("no certificate with serial \(serial) was issued by this manager")
        }
        do {
            try security.revoke(serial: serial)
        } catch {
            throw APIError.internalError(
                "the revocation was not saved, the certificate stays valid: \(error)")
        }
        PeerConnections.shared.close(serial: serial)
        var revoked = record
        revoked.revoked = true
        return ManagerAPI.json(revoked)
    }

    static func joinToken(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let security = try security(context)
        let role = try role(context)
        return ManagerAPI.json(
            JoinTokenResponse(role: role.rawValue, token: security.token(for: role).description))
    }

    static func rotateToken(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let security = try security(context)
        let role = try role(context)
        let token: JoinToken
        do {
            token = try security.rotate(role)
        } catch {
            throw APIError.internalError("the new token was not saved, the old one stays valid: \(error)")
        }
        return ManagerAPI.json(JoinTokenResponse(role: role.rawValue, token: token.description))
    }
}
