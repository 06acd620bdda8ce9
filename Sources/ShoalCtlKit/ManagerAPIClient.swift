import Foundation
import NIOHTTP1
import ShoalAgent
import ShoalModel

/// An error a person can act on: what failed and why, and what to try.
public struct CtlError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// Typed calls to the manager's API; failures become `CtlError`s that name the call.
struct ManagerAPIClient: Sendable {
    let client: HTTPClient

    func call(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws -> HTTPResult {
        let result: HTTPResult
        do throws(ClientError) {
            result = try await client.request(method, path, body: body)
        } catch {
            throw CtlError(error.description, hint: hint(for: error))
        }
        do throws(ClientError) {
            try result.check()
        } catch {
            throw CtlError(error.description, hint: hint(for: error))
        }
        return result
    }

    private func hint(for error: ClientError) -> String? {
        switch error {
        case .connect: "is `shoald manager` running, and is the address or socket right?"
        case .tls: "the admin certificate must come from this cluster's `shoald manager init`"
        case .http(let status, _) where status == 409: "read the current state and try again"
        case .http(let status, _) where status == 401 || status == 403:
            "use the admin certificate (<data dir>/pki/admin) or the admin socket"
        default: nil
        }
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let result = try await call(.GET, path)
        do {
            return try JSONDecoder().decode(type, from: Data(result.body))
        } catch {
            throw CtlError("cannot read the manager's answer to GET \(path): \(error)")
        }
    }

    @discardableResult
    func send<T: Decodable>(_ method: HTTPMethod, _ path: String, _ body: some Encodable, as type: T.Type)
        async throws -> T
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let result = try await call(method, path, body: Array(try encoder.encode(body)))
        do {
            return try JSONDecoder().decode(type, from: Data(result.body))
        } catch {
            throw CtlError("cannot read the manager's answer to \(method) \(path): \(error)")
        }
    }

    func delete(_ path: String) async throws { _ = try await call(.DELETE, path) }

    /// `inspect`: the named objects of a collection (`nodes`, `networks`, `services`) as a JSON array.
    func inspect<T: Codable>(_ type: T.Type, _ collection: String, _ names: [String]) async throws -> String {
        var found: [T] = []
        for name in names { found.append(try await get(type, "/v1/\(collection)/\(Self.escape(name))")) }
        return try Output.json(found)
    }

    /// `rm`: removes each named object, printing its name as it goes.
    func remove(_ collection: String, _ names: [String], query: String = "") async throws {
        for name in names {
            try await delete("/v1/\(collection)/\(Self.escape(name))\(query)")
            print(name)
        }
    }

    static func escape(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"]))
            ?? component
    }

    func service(_ name: String) async throws -> Service {
        try await get(Service.self, "/v1/services/\(Self.escape(name))")
    }

    func services() async throws -> [Service] { try await get([Service].self, "/v1/services") }
    func networks() async throws -> [Network] { try await get([Network].self, "/v1/networks") }
    func nodes() async throws -> [Node] { try await get([Node].self, "/v1/nodes") }

    func tasks(service: String? = nil) async throws -> [ClusterTask] {
        let query = service.map { "?service=\(Self.escape($0))" } ?? ""
        return try await get([ClusterTask].self, "/v1/tasks\(query)")
    }

    func updateService(_ spec: ServiceSpec, version: UInt64) async throws -> Service {
        try await send(
            .POST, "/v1/services/\(Self.escape(spec.name))/update?version=\(version)", spec, as: Service.self)
    }
}
