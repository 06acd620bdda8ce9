import Foundation
import NIOSSL
import ShoalModel
import ShoalPKI
import X509

/// Why joining failed; each names the cause.
public enum JoinError: Error, Sendable, CustomStringConvertible {
    case token(JoinTokenError)
    case manager(ClientError)
    case credentials(PKIError)
    case badAddress(String)

    public var description: String {
        switch self {
        case .token(let error): return "join refused: \(error)"
        case .manager(let error): return "join failed: \(error)"
        case .credentials(let error): return "join failed: \(error)"
        case .badAddress(let address): return "join address must be ADDR:PORT, got \(address)"
        }
    }
}

/// What a node keeps besides its key and certificate: where the manager's API is.
struct ManagerFile: Codable {
    var managerAddress: String
}

public enum Address {
    /// Splits `ADDR:PORT`.
    public static func split(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
            let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        return (String(text[..<colon]), port)
    }
}

/// Joining a cluster with a token:
/// 1. fetch the CA certificate from the join listener without trusting anything,
/// 2. pin it by the token's digest (`caDigestMismatch` otherwise),
/// 3. send the CSR and the token over TLS verified against the pinned CA (manager role required),
/// 4. store key, certificate and CA 0600 under the data dir.
public enum Joiner {
    public static func join(joinAddress: String, token text: String, dataDir: String) async throws(JoinError)
        -> (credentials: NodeCredentials, managerAddress: String)
    {
        let token: JoinToken
        do {
            token = try JoinToken(parsing: text)
        } catch {
            throw .token(error)
        }
        guard let (host, port) = Address.split(joinAddress) else { throw .badAddress(joinAddress) }
        do {
            let fetchContext = try ShoalTLS.caFetchContext()
            let fetch = HTTPClient(
                .tls(
                    host: host, port: port,
                    handler: { try NIOSSLClientHandler(context: fetchContext, serverHostname: nil) }))
            let answer = try await fetch.request(.GET, "/v1/join/ca").decode(CACertificateResponse.self)
            let fetched = try Certificate(pemEncoded: answer.certificate)
            let pinned = try token.pinCA(certificateDER: fetched.derEncoded())
            let client = try PinnedJoinClient(pinnedCA: pinned)
            let joinClient = HTTPClient(.tls(host: host, port: port, handler: { try client.makeHandler() }))
            let csr = try NodeCSR.generate(requestedNodeID: "joining")
            let body = try JSONEncoder().encode(JoinRequest(token: text, csr: try csr.pem()))
            let issued = try await joinClient.request(.POST, "/v1/join", body: Array(body))
                .decode(IssuedCertificate.self)
            let certificate = try Certificate(pemEncoded: issued.certificate)
            let credentials = try csr.credentials(certificate: certificate, caCertificate: pinned)
            let managerAddress = issued.managerAddress ?? joinAddress
            try credentials.save(to: dataDir)
            try SecureFile.write(
                Array(try JSONEncoder().encode(ManagerFile(managerAddress: managerAddress))),
                to: SecureFile.join(dataDir, "manager.json"))
            return (credentials, managerAddress)
        } catch let error as JoinError {
            throw error
        } catch let error as JoinTokenError {
            throw .token(error)
        } catch let error as ClientError {
            throw .manager(error)
        } catch let error as PKIError {
            throw .credentials(error)
        } catch {
            throw .credentials(.crypto("\(error)"))
        }
    }

    /// Credentials saved by an earlier join, with the manager's address; nil when the node never joined.
    public static func saved(dataDir: String) throws(JoinError) -> (
        credentials: NodeCredentials, managerAddress: String
    )? {
        do {
            guard let credentials = try NodeCredentials.load(from: dataDir),
                let bytes = try SecureFile.read(SecureFile.join(dataDir, "manager.json"))
            else { return nil }
            let file = try JSONDecoder().decode(ManagerFile.self, from: Data(bytes))
            return (credentials, file.managerAddress)
        } catch let error as PKIError {
            throw .credentials(error)
        } catch {
            throw .credentials(.crypto("\(error)"))
        }
    }
}
