import Foundation
import Hummingbird
import ShoalModel

/// The answers for what no route serves: 405 with `Allow` for a known path and another method,
/// and a 404 that says what this listener is (shoalctl pointed at the join port learns why).
enum MethodRoutes {
    static let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options, .trace]

    static func add(
        to router: Router<ShoalRequestContext>, methodsByPath: [String: [HTTPRequest.Method]],
        mode: ListenerMode
    ) {
        for (path, served) in methodsByPath {
            let allow = served.map(\.rawValue).sorted().joined(separator: ", ")
            for method in methods where !served.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ in
                    var response = ManagerAPI.json(
                        ErrorResponse(
                            reason: "\(request.method) is not allowed on \(path); it takes \(allow)"),
                        status: .methodNotAllowed)
                    response.headers[.allow] = allow
                    return response
                }
            }
        }
        let what =
            mode == .join
            ? "this is the join listener: it serves only GET /v1/join/ca and POST /v1/join; point shoalctl at the API listener (--listen, default port 2377) or the admin socket"
            : "no such route (docs/openapi.yaml lists them)"
        router.add(middleware: NotFoundAnswer(what: what))
    }
}

/// Turns the router's bare 404 (no route matched) into an error body saying what this listener is.
struct NotFoundAnswer: RouterMiddleware {
    typealias Context = ShoalRequestContext
    let what: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return ManagerAPI.json(
                ErrorResponse(reason: "\(request.method) \(request.uri.path): \(what)"), status: .notFound)
        }
    }
}

/// Finds the number that did not fit its field in a body the decoder refused without naming one.
enum BodyNumbers {
    static func firstUnfit(in body: Data) -> (field: String, reason: String)? {
        guard let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return nil
        }
        return first(json, path: "")
    }

    private static func first(_ value: Any, path: String) -> (String, String)? {
        if let object = value as? [String: Any] {
            for key in object.keys.sorted() {
                guard let child = object[key] else { continue }
                let field = path.isEmpty ? key : path + "." + key
                if let found = first(child, path: field) { return found }
            }
        } else if let array = value as? [Any] {
            for (index, child) in array.enumerated() {
                if let found = first(child, path: path + "[\(index)]") { return found }
            }
        } else if let number = value as? NSNumber, !(value is Bool) {
            let double = number.doubleValue
            if double >= 9.2e18 || double <= -9.2e18 { return (path, "is too large: \(number)") }
            if double != double.rounded() { return (path, "must be a whole number, not \(number)") }
        }
        return nil
    }
}
