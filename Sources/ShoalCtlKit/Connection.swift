import ArgumentParser
import Foundation
import ShoalAgent
import ShoalPKI

/// Where the manager is, as given by flags, environment, the context file or the default socket.
public struct ConnectionSettings: Codable, Equatable, Sendable {
    public var socket: String?
    public var manager: String?
    public var certDir: String?
    /// Which of flags, environment, context file or default chose these settings (for messages).
    public var source: String?

    public init(socket: String? = nil, manager: String? = nil, certDir: String? = nil, source: String? = nil)
    {
        self.socket = socket
        self.manager = manager
        self.certDir = certDir
        self.source = source
    }

    /// The socket `shoald manager init --data-dir /var/lib/shoal` creates.
    public static let defaultSocket = "/var/lib/shoal/run/shoald.sock"

    /// The context file: `SHOAL_CONTEXT`, else `~/.config/shoal/context.json`.
    public static func contextPath(environment: [String: String]) -> String {
        if let path = environment["SHOAL_CONTEXT"], !path.isEmpty { return path }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.config/shoal/context.json"
    }

    /// First of: flags, `SHOAL_SOCKET` / `SHOAL_MANAGER` + `SHOAL_CERT_DIR`, the context file, the
    /// default socket when it exists. Flags and environment mix field by field (a flag wins).
    public static func resolve(
        flags: ConnectionSettings, environment: [String: String], context: ConnectionSettings?,
        fileExists: (String) -> Bool
    ) -> ConnectionSettings? {
        func value(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        if flags.socket != nil || flags.manager != nil {
            return ConnectionSettings(
                socket: flags.socket, manager: flags.manager,
                certDir: flags.certDir ?? value("SHOAL_CERT_DIR"),
                source: "flags")
        }
        if let socket = value("SHOAL_SOCKET") {
            return ConnectionSettings(socket: socket, source: "SHOAL_SOCKET")
        }
        if let manager = value("SHOAL_MANAGER") {
            return ConnectionSettings(
                manager: manager, certDir: flags.certDir ?? value("SHOAL_CERT_DIR"), source: "SHOAL_MANAGER")
        }
        if var context, context.socket != nil || context.manager != nil {
            context.source = "context file \(contextPath(environment: environment))"
            return context
        }
        if fileExists(defaultSocket) {
            return ConnectionSettings(socket: defaultSocket, source: "default socket")
        }
        return nil
    }

    static func loadContext(environment: [String: String]) throws -> ConnectionSettings? {
        let path = contextPath(environment: environment)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(
                ConnectionSettings.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw CtlError("cannot read the context file \(path): \(error)", hint: "fix or remove it")
        }
    }
}

/// How to reach the manager: flags, else environment, else the context file, else the default socket.
public struct ManagerOptions: ParsableArguments {
    @Option(help: "The manager's API address, ADDR:PORT (with --cert-dir). Env: SHOAL_MANAGER.")
    var manager: String?

    @Option(
        help:
            "Directory with the admin certificate from `shoald manager init` (<data dir>/pki/admin). Env: SHOAL_CERT_DIR."
    )
    var certDir: String?

    @Option(help: "The manager's admin unix socket (<data dir>/run/shoald.sock). Env: SHOAL_SOCKET.")
    var socket: String?

    @Flag(help: "DEVELOPMENT ONLY: plain HTTP to a manager started with --insecure-dev.")
    var insecureDev = false

    public init() {}

    func settings() throws -> ConnectionSettings {
        let environment = ProcessInfo.processInfo.environment
        guard
            let settings = ConnectionSettings.resolve(
                flags: ConnectionSettings(socket: socket, manager: manager, certDir: certDir),
                environment: environment,
                context: try ConnectionSettings.loadContext(environment: environment),
                fileExists: { FileManager.default.fileExists(atPath: $0) })
        else {
            throw CtlError(
                "no manager to talk to",
                hint: "pass --socket PATH (or set SHOAL_SOCKET), or --manager ADDR:PORT with --cert-dir DIR, "
                    + "or save one with `shoalctl context set`")
        }
        return settings
    }

    func client() throws -> HTTPClient {
        let settings = try settings()
        if let socket = settings.socket { return HTTPClient(.unixSocket(path: socket)) }
        guard let manager = settings.manager, let (host, port) = Address.split(manager) else {
            throw CtlError("the manager address \(settings.manager ?? "") is not ADDR:PORT")
        }
        if insecureDev {
            FileHandle.standardError.write(
                Data("shoalctl: WARNING: --insecure-dev, plain HTTP without authentication\n".utf8))
            return HTTPClient(.plain(host: host, port: port))
        }
        guard let certDir = settings.certDir else {
            throw CtlError(
                "--manager needs the admin certificate",
                hint: "pass --cert-dir <data dir>/pki/admin or set SHOAL_CERT_DIR")
        }
        guard let credentials = try NodeCredentials.load(from: certDir) else {
            throw CtlError(
                "no admin certificate in \(certDir)", hint: "it is <data dir>/pki/admin on the manager")
        }
        let tls = try MutualTLSClient(credentials: credentials, managerAddress: host)
        return HTTPClient(.tls(host: host, port: port, handler: { try tls.makeHandler() }))
    }

    func api() throws -> ManagerAPIClient { ManagerAPIClient(client: try client()) }
}
