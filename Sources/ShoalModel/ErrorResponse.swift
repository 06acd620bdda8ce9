/// The JSON body of every 4xx answer from the manager's API.
public struct ErrorResponse: Codable, Equatable, Sendable {
    /// The request field at fault (a JSON path such as `ports[0].published`), when there is one.
    public var field: String?
    public var reason: String

    public init(field: String? = nil, reason: String) {
        self.field = field
        self.reason = reason
    }
}
