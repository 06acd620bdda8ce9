import ShoalModel

/// A stack file (the Compose subset Shoal deploys), checked and with variables substituted.
/// Network and service names are the file's keys; `StackConversion` adds the stack's prefix.
public struct StackFile: Equatable, Sendable {
    public var services: [StackService]
    public var networks: [StackNetwork]
    /// Unknown or ignored keys, each with its line: printed, never fatal.
    public var warnings: [String]
}

public struct StackService: Equatable, Sendable {
    public var name: String
    public var image: String?
    /// `entrypoint` followed by `command`.
    public var command: [String]
    public var env: [String]
    public var mode: ServiceModeKind?
    public var replicas: Int?
    public var endpointMode: EndpointMode?
    public var updatePolicy: UpdatePolicy?
    public var constraints: [String]
    public var ports: [PortConfig]
    /// Keys of the file's `networks`, with aliases.
    public var networks: [NetworkAttachment]
    public var healthCheck: HealthCheck?
    public var labels: [String: String]
}

public struct StackNetwork: Equatable, Sendable {
    /// The key under the top-level `networks`.
    public var key: String
    /// An existing network the stack uses and never creates or removes.
    public var external: Bool
    /// `name:` (or `external.name`): the cluster name, used as given.
    public var name: String?
    public var subnet: CIDR?
    public var attachable: Bool?
    public var `internal`: Bool?
    public var labels: [String: String]
}

/// An invalid stack file: where, and what is wrong. Nothing is deployed.
public struct StackFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(path):\(line):\(column): \(message)" }
}
