import Foundation
import Hummingbird
import Logging
import NIOCore
import ShoalModel
import ShoalPKI

/// Who may call a route, for the authorization layer (ShoalPKI's `Authorizer` maps these to its
/// actions: `admin` -> `.admin`, the node routes -> the action for the node they name).
public enum RouteAccess: String, Sendable {
    /// Cluster administration and inspection.
    case admin
    /// A node joining (or rejoining) as itself.
    case nodeRegister
    /// The node named by `{id}`.
    case nodeHeartbeat
    /// The node named by `{id}`; admins may read it too.
    case nodeFeed
    /// The node the task `{id}` is placed on (as the store knows it).
    case nodeTaskReport
    /// The node named by `{id}` renewing its own certificate.
    case nodeRenew
    /// Joining: served only by the join listener (TLS without a client certificate).
    case join
}

/// One route of the manager's HTTP API. `path` is in OpenAPI form (`/v1/nodes/{id}`), which is
/// also the form Hummingbird's router takes; docs/openapi.yaml must list every route.
public struct APIRoute: Sendable {
    public typealias Handler = @Sendable (Request, ShoalRequestContext, Manager) async throws -> Response

    public let method: HTTPRequest.Method
    public let path: String
    public let access: RouteAccess
    let handler: Handler

    init(method: HTTPRequest.Method, path: String, access: RouteAccess = .admin, handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.access = access
        self.handler = handler
    }
}

/// The manager's HTTP+JSON API.
public enum ManagerAPI {
    /// The one route table: the router is built from it and the OpenAPI test checks it.
    public static let routes: [APIRoute] = [
        APIRoute(method: .get, path: "/v1/info", handler: info),
        APIRoute(method: .get, path: "/v1/join/ca", access: .join, handler: SecurityRoutes.caCertificate),
        APIRoute(method: .post, path: "/v1/join", access: .join, handler: SecurityRoutes.join),
        APIRoute(
            method: .post, path: "/v1/nodes/{id}/renew", access: .nodeRenew, handler: SecurityRoutes.renew),
        APIRoute(method: .get, path: "/v1/cluster/tokens/{role}", handler: SecurityRoutes.joinToken),
        APIRoute(
            method: .post, path: "/v1/cluster/tokens/{role}/rotate", handler: SecurityRoutes.rotateToken),
        APIRoute(method: .get, path: "/v1/cluster/certificates", handler: SecurityRoutes.listCertificates),
        APIRoute(
            method: .post, path: "/v1/cluster/certificates/{serial}/revoke",
            handler: SecurityRoutes.revokeCertificate),
        APIRoute(method: .post, path: "/v1/nodes/register", access: .nodeRegister, handler: registerNode),
        APIRoute(method: .post, path: "/v1/nodes/{id}/heartbeat", access: .nodeHeartbeat, handler: heartbeat),
        APIRoute(method: .get, path: "/v1/nodes/{id}/feed", access: .nodeFeed, handler: feed),
        APIRoute(method: .get, path: "/v1/nodes", handler: listNodes),
        APIRoute(method: .get, path: "/v1/nodes/{id}", handler: inspectNode),
        APIRoute(method: .post, path: "/v1/nodes/{id}/update", handler: updateNode),
        APIRoute(method: .delete, path: "/v1/nodes/{id}", handler: removeNode),
        APIRoute(method: .post, path: "/v1/networks", handler: createNetwork),
        APIRoute(method: .get, path: "/v1/networks", handler: listNetworks),
        APIRoute(method: .get, path: "/v1/networks/{id}", handler: inspectNetwork),
        APIRoute(method: .post, path: "/v1/networks/{id}/update", handler: updateNetwork),
        APIRoute(method: .delete, path: "/v1/networks/{id}", handler: removeNetwork),
        APIRoute(method: .post, path: "/v1/services", handler: createService),
        APIRoute(method: .get, path: "/v1/services", handler: listServices),
        APIRoute(method: .get, path: "/v1/services/{id}", handler: inspectService),
        APIRoute(method: .post, path: "/v1/services/{id}/update", handler: updateService),
        APIRoute(method: .delete, path: "/v1/services/{id}", handler: removeService),
        APIRoute(method: .get, path: "/v1/tasks", handler: listTasks),
        APIRoute(method: .get, path: "/v1/tasks/{id}", handler: inspectTask),
        APIRoute(method: .post, path: "/v1/tasks/{id}/status", access: .nodeTaskReport, handler: taskStatus),
        APIRoute(method: .delete, path: "/v1/tasks/{id}", handler: removeTask),
        APIRoute(method: .get, path: "/v1/services/{id}/logs", handler: LogRoutes.serviceLogs),
        APIRoute(method: .get, path: "/v1/tasks/{id}/logs", handler: LogRoutes.taskLogs),
        APIRoute(
            method: .get, path: "/v1/nodes/{id}/logs", access: .nodeFeed, handler: LogRoutes.subscriptions),
        APIRoute(
            method: .post, path: "/v1/nodes/{id}/logs/{subscription}", access: .nodeHeartbeat,
            handler: LogRoutes.chunk),
    ]

    /// The router for one listener. The join listener serves only the join routes; the others serve
    /// every other route, each authorized for the caller first (see `authorize`).
    public static func router(
        manager: Manager, mode: ListenerMode = .insecure, security: ClusterSecurity? = nil
    ) -> Router<ShoalRequestContext> {
        let router = Router(context: ShoalRequestContext.self)
        var methodsByPath: [String: [HTTPRequest.Method]] = [:]
        for route in routes where (route.access == .join) == (mode == .join) {
            methodsByPath[route.path, default: []].append(route.method)
            let handler = route.handler
            let access = route.access
            router.on(RouterPath(route.path), method: route.method) { request, context in
                var context = context
                context.security = security
                context.mode = mode
                do {
                    try await authorize(access, context, manager)
                    return try await handler(request, context, manager)
                } catch let error as StoreError {
                    return errorResponse(error)
                } catch let error as APIError {
                    return errorResponse(error)
                }
            }
        }
        MethodRoutes.add(to: router, methodsByPath: methodsByPath, mode: mode)
        return router
    }

    /// The application serving the API on `host:port` (port 0 picks a free one; `onRunning` gets it).
    public static func application(
        manager: Manager, host: String, port: Int, logger: Logger? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(manager: manager, mode: .insecure),
            server: .closingHTTP1,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: "shoald"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger ?? Logger(label: "shoald.api"))
    }

    // MARK: helpers

    static func errorResponse(_ error: StoreError) -> Response {
        let status: HTTPResponse.Status
        let body: ErrorResponse
        switch error {
        case .invalid(let field, let reason):
            status = .badRequest
            body = ErrorResponse(field: field, reason: reason)
        case .notFound(let reason):
            status = .notFound
            body = ErrorResponse(reason: reason)
        case .conflict(let reason):
            status = .conflict
            body = ErrorResponse(reason: reason)
        case .storage(let reason):
            status = .internalServerError
            body = ErrorResponse(reason: reason)
        }
        return json(body, status: status)
    }

    static func errorResponse(_ error: APIError) -> Response {
        switch error {
        case .unauthorized(let reason): json(ErrorResponse(reason: reason), status: .unauthorized)
        case .forbidden(let reason): json(ErrorResponse(reason: reason), status: .forbidden)
        case .invalid(let field, let reason):
            json(ErrorResponse(field: field, reason: reason), status: .badRequest)
        case .unavailable(let reason): json(ErrorResponse(reason: reason), status: .notFound)
        case .internalError(let reason): json(ErrorResponse(reason: reason), status: .internalServerError)
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a JSON body; a malformed one is a 400 naming the field.
    static func decode<T: Codable>(_ type: T.Type, from request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            throw StoreError.invalid(field: nil, reason: "the body is larger than 1 MiB")
        }
        let data = Data(buffer.readableBytesView)
        do {
            let value = try JSONDecoder().decode(type, from: data)
            if let unknown = UnknownFields.first(in: data, decoded: value) {
                throw StoreError.invalid(field: unknown, reason: "is not a field of this request")
            }
            return value
        } catch let error as StoreError {
            throw error
        } catch let error as DecodingError {
            throw decodingFailure(error, body: data)
        } catch {
            throw StoreError.invalid(field: nil, reason: "the body is not valid JSON")
        }
    }

    static func decodingFailure(_ error: DecodingError, body: Data = Data()) -> StoreError {
        func path(_ keys: [any CodingKey]) -> String? {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? nil : text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .invalid(field: path(context.codingPath + [key]), reason: "is required")
        case .typeMismatch(let type, let context):
            return .invalid(field: path(context.codingPath), reason: "must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return .invalid(field: path(context.codingPath), reason: "must be \(describe(type)), not null")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                // Valid JSON whose number did not fit its field: the decoder names no field.
                if let (field, reason) = BodyNumbers.firstUnfit(in: body) {
                    return .invalid(field: field, reason: reason)
                }
                return .invalid(field: nil, reason: "the body is not valid JSON")
            }
            return .invalid(field: path(context.codingPath), reason: plain(context.debugDescription))
        @unknown default:
            return .invalid(
                field: nil, reason: "the body does not match the request's schema (docs/openapi.yaml)")
        }
    }

    /// A decoder's sentence in the user's terms (no Swift type names).
    static func plain(_ text: String) -> String {
        if text.hasPrefix("Cannot initialize"), let range = text.range(of: "value ", options: .backwards) {
            return "\(text[range.upperBound...]) is not one of the allowed values (docs/openapi.yaml)"
        }
        if text.contains("does not fit") || text.hasPrefix("Parsed JSON number") {
            return "must be a whole number in range"
        }
        return text
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [String: Any].Type, is [String: String].Type: "an object"
        case is [Any].Type, is [String].Type: "a list"
        default:
            "\(type)".hasPrefix("Dictionary")
                ? "an object" : "\(type)".hasPrefix("Array") ? "a list" : "a value of the documented type"
        }
    }

    static func query(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init)
    }

    /// A boolean query parameter: absent is false; anything but `true` or `false` is a 400.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        switch query(request, name) {
        case nil, "false": return false
        case "true": return true
        case let other?: throw StoreError.invalid(field: name, reason: "must be true or false, not \(other)")
        }
    }

    static func version(_ request: Request) throws -> UInt64? {
        guard let text = query(request, "version") else { return nil }
        guard let value = UInt64(text) else {
            throw StoreError.invalid(field: "version", reason: "must be an integer")
        }
        return value
    }

    static func id(_ context: ShoalRequestContext) throws -> String {
        guard let id = context.parameters.get("id") else {
            throw StoreError.invalid(field: "id", reason: "is required")
        }
        return id
    }

    static func state(_ manager: Manager) async -> ClusterState { await manager.store.current().state }

    // MARK: handlers

    struct Info: Codable {
        var revision: UInt64
        var nodes: Int
        var networks: Int
        var services: Int
        var tasks: Int
    }

    static func info(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let (revision, state) = await manager.store.current()
        return json(
            Info(
                revision: revision, nodes: state.nodes.count, networks: state.networks.count,
                services: state.services.count, tasks: state.tasks.count))
    }

    static func registerNode(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        var registration = try await decode(NodeRegistration.self, from: request)
        if let peer = context.peer {
            // A node registers as the id and role its certificate names, nothing else.
            if let given = registration.id, given != peer.nodeID {
                throw APIError.forbidden("node \(peer.nodeID) cannot register as node \(given)")
            }
            // Only certificates this manager recorded (or nodes registered before records were kept).
            if let security = context.security, !security.wasIssued(peer),
                await state(manager).nodes[peer.nodeID] == nil
            {
                throw APIError.forbidden(
                    "certificate \(peer.serial) of node \(peer.nodeID) is not in this manager's issuance records"
                )
            }
            registration.id = peer.nodeID
            registration.role = ShoalModel.NodeRole(rawValue: peer.role.rawValue)
            registration.address = try observedAddress(registration.address, context, manager)
        }
        return json(try await manager.register(registration))
    }

    /// The underlay address a node registers with: the one the manager sees on its connection. A
    /// node that declares another is refused unless the admin started the manager with
    /// `--trust-node-addresses` (NAT, a separate management network); 0.0.0.0 declares nothing.
    static func observedAddress(_ declared: IPv4Address, _ context: ShoalRequestContext, _ manager: Manager)
        throws -> IPv4Address
    {
        let unspecified = declared.value == 0
        guard let observed = context.remoteAddress else { return declared }
        if unspecified { return observed }
        if declared == observed || manager.config.trustDeclaredNodeAddresses { return declared }
        throw APIError.forbidden(
            "node declares address \(declared) but connects from \(observed); the manager takes the address it sees "
                + "(omit --advertise-addr, or start the manager with --trust-node-addresses)")
    }

    static func heartbeat(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        // `{id}` is the node's id or name, as on every node route.
        let name = try id(context)
        return json(try await manager.heartbeat(await state(manager).node(named: name)?.id ?? name))
    }

    static func feed(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let nodeID = try id(context)
        var since: UInt64?
        if let text = query(request, "since") {
            guard let value = UInt64(text) else {
                throw StoreError.invalid(field: "since", reason: "must be an integer")
            }
            since = value
        }
        guard let node = await state(manager).node(named: nodeID) else {
            throw StoreError.notFound("no node \(nodeID)")
        }
        let subscription = try await manager.feed(
            nodeID: node.id, since: since, store: query(request, "store"))
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                // Stop producing as soon as the agent is gone (a write fails) or the server stops.
                defer { subscription.cancel() }
                // A COMPLETE comes in parts: each is written (and flushed) before the next is made.
                for await chunk in subscription.chunks {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
    }

    static func listNodes(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        json(await state(manager).nodes.values.sorted { $0.name < $1.name })
    }

    static func inspectNode(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        guard let node = await state(manager).node(named: name) else {
            throw StoreError.notFound("no node \(name)")
        }
        return json(node)
    }

    static func updateNode(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        let version = try version(request)
        let update = try await decode(NodeUpdate.self, from: request)
        let node = try await manager.apply { state in
            try Operations.updateNode(name, version: version, update: update, state: &state)
        }
        return json(await state(manager).nodes[node.id] ?? node)
    }

    static func removeNode(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        let force = try flag(request, "force")
        if let security = context.security {
            // Revoked first (persisted), removed second: a crash in between leaves a revoked node
            // in the store, never a removed node with a valid certificate. A removal that would be
            // refused revokes nothing.
            var check = await state(manager)
            guard let nodeID = check.node(named: name)?.id else {
                throw StoreError.notFound("no node \(name)")
            }
            try Operations.removeNode(name, force: force, state: &check)
            do {
                try security.revoke(nodeID: nodeID)
            } catch {
                throw APIError.internalError(
                    "node \(nodeID) was not removed: its revocation was not saved: \(error)")
            }
            PeerConnections.shared.close(nodeID: nodeID)
        }
        try await manager.removeNode(name, force: force)
        return Response(status: .noContent)
    }

    static func createNetwork(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let spec = try await decode(NetworkSpec.self, from: request)
        let id = ObjectID.make()
        let config = manager.config.allocator
        let network = try await manager.apply { state in
            try Operations.createNetwork(spec, id: id, state: &state, config: config)
        }
        return json(await state(manager).networks[network.id] ?? network, status: .created)
    }

    static func listNetworks(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        json(await state(manager).networks.values.sorted { $0.name < $1.name })
    }

    static func inspectNetwork(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        guard let network = await state(manager).network(named: name) else {
            throw StoreError.notFound("no network \(name)")
        }
        return json(network)
    }

    static func updateNetwork(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        let version = try version(request)
        let spec = try await decode(NetworkSpec.self, from: request)
        let network = try await manager.apply { state in
            try Operations.updateNetwork(name, version: version, spec: spec, state: &state)
        }
        return json(await state(manager).networks[network.id] ?? network)
    }

    static func removeNetwork(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        try await manager.apply { state in try Operations.removeNetwork(name, state: &state) }
        return Response(status: .noContent)
    }

    static func createService(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let spec = try await decode(ServiceSpec.self, from: request)
        let id = ObjectID.make()
        let config = manager.config.allocator
        let service = try await manager.apply { state in
            try Operations.createService(spec, id: id, state: &state, config: config)
        }
        return json(await state(manager).services[service.id] ?? service, status: .created)
    }

    static func listServices(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        json(await state(manager).services.values.sorted { $0.spec.name < $1.spec.name })
    }

    static func inspectService(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        guard let service = await state(manager).service(named: name) else {
            throw StoreError.notFound("no service \(name)")
        }
        return json(service)
    }

    static func updateService(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        let version = try version(request)
        let spec = try await decode(ServiceSpec.self, from: request)
        let config = manager.config.allocator
        let service = try await manager.apply { state in
            try Operations.updateService(name, version: version, spec: spec, state: &state, config: config)
        }
        return json(await state(manager).services[service.id] ?? service)
    }

    static func removeService(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        try await manager.apply { state in try Operations.removeService(name, state: &state) }
        return Response(status: .noContent)
    }

    static func listTasks(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager) async throws
        -> Response
    {
        let state = await state(manager)
        var tasks = Array(state.tasks.values)
        if let service = query(request, "service") {
            let id = state.service(named: service)?.id ?? service
            tasks = tasks.filter { $0.serviceID == id }
        }
        if let node = query(request, "node") {
            let id = state.node(named: node)?.id ?? node
            tasks = tasks.filter { $0.nodeID == id }
        }
        return json(tasks.sorted { ($0.serviceName, $0.slot, $0.name) < ($1.serviceName, $1.slot, $1.name) })
    }

    static func inspectTask(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        guard let task = await state(manager).task(named: name) else {
            throw StoreError.notFound("no task \(name)")
        }
        return json(task)
    }

    static func taskStatus(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let taskID = try id(context)
        let report = try await decode(TaskStatusReport.self, from: request)
        let task = try await manager.report(taskID, report)
        return json(await state(manager).tasks[task.id] ?? task)
    }

    static func removeTask(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws
        -> Response
    {
        let name = try id(context)
        try await manager.apply { state in try Operations.removeTask(name, state: &state) }
        return Response(status: .noContent)
    }
}
