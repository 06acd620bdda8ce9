/// An HTTP GET health probe: healthy when the answer's status is 2xx or 3xx.
public struct HTTPHealthProbe: Codable, Equatable, Sendable {
    public var port: UInt16
    /// Starts with "/"; defaults to "/".
    public var path: String

    public init(port: UInt16, path: String = "/") {
        self.port = port
        self.path = path
    }

    private enum CodingKeys: String, CodingKey {
        case port, path
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        port = try container.decode(UInt16.self, forKey: .port)
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? "/"
    }
}

/// How an agent checks that a task serves: exactly one of a command run in the task's namespace,
/// a TCP connect or an HTTP GET, both to 127.0.0.1 inside the task's network namespace.
public struct HealthCheck: Codable, Equatable, Sendable {
    /// Exit code 0 is healthy. Empty for a TCP or HTTP check.
    public var command: [String]
    public var tcpPort: UInt16?
    public var http: HTTPHealthProbe?
    /// Defaults: Docker's (30 s, 30 s, 3 retries, no start period).
    public var intervalSeconds: Double?
    public var timeoutSeconds: Double?
    /// Consecutive failures that make a task unhealthy.
    public var retries: Int?
    /// Failures in this time after the start do not count; a success ends it early.
    public var startPeriodSeconds: Double?

    public init(
        command: [String] = [], tcpPort: UInt16? = nil, http: HTTPHealthProbe? = nil,
        intervalSeconds: Double? = nil, timeoutSeconds: Double? = nil, retries: Int? = nil,
        startPeriodSeconds: Double? = nil
    ) {
        self.command = command
        self.tcpPort = tcpPort
        self.http = http
        self.intervalSeconds = intervalSeconds
        self.timeoutSeconds = timeoutSeconds
        self.retries = retries
        self.startPeriodSeconds = startPeriodSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case command, tcpPort, http, intervalSeconds, timeoutSeconds, retries, startPeriodSeconds
    }

    /// `command` may be left out (TCP and HTTP checks); older specs have only it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decodeIfPresent([String].self, forKey: .command) ?? []
        tcpPort = try container.decodeIfPresent(UInt16.self, forKey: .tcpPort)
        http = try container.decodeIfPresent(HTTPHealthProbe.self, forKey: .http)
        intervalSeconds = try container.decodeIfPresent(Double.self, forKey: .intervalSeconds)
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
        retries = try container.decodeIfPresent(Int.self, forKey: .retries)
        startPeriodSeconds = try container.decodeIfPresent(Double.self, forKey: .startPeriodSeconds)
    }

    public var effectiveInterval: Double { intervalSeconds ?? 30 }
    public var effectiveTimeout: Double { timeoutSeconds ?? 30 }
    public var effectiveRetries: Int { retries ?? 3 }
    public var effectiveStartPeriod: Double { startPeriodSeconds ?? 0 }

    /// How long a task that became unhealthy may stay so before the manager replaces it: as long
    /// again as it took to be declared unhealthy (`retries` failed probes), at least one interval.
    public var replaceAfterSeconds: Double {
        Double(max(1, effectiveRetries)) * effectiveInterval
    }
}

/// A task's health as its agent last reported it; nil on a task whose service has no check.
public enum TaskHealth: String, Codable, Sendable, CaseIterable {
    /// Running, no probe has succeeded yet.
    case starting
    case healthy
    /// `retries` probes in a row failed.
    case unhealthy
}
