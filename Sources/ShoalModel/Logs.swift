/// One line of a task's output, as `GET /v1/services/{id}/logs` streams it (NDJSON) and agents post
/// it to the manager.
public struct TaskLogLine: Codable, Equatable, Sendable {
    public var task: String
    public var node: String
    /// `stdout` (a task's stdout and stderr share its log file), or `error` for a line from the
    /// manager saying which node's logs are missing.
    public var stream: String
    /// Seconds since 1970: when the agent read the line (its file's modification time for lines
    /// written before the request; the file holds no times).
    public var time: Double
    public var line: String

    public init(task: String, node: String, stream: String = "stdout", time: Double, line: String) {
        self.task = task
        self.node = node
        self.stream = stream
        self.time = time
        self.line = line
    }
}

/// A request for task logs, sent by the manager to the agent holding the tasks (on the agent's
/// `GET /v1/nodes/{id}/logs` stream). The agent answers with `LogChunk`s.
public struct LogSubscription: Codable, Equatable, Sendable {
    public var id: String
    /// Task ids and names on this node.
    public var tasks: [LogTask]
    /// Lines from the end of each task's log to start with; nil: all (bounded by the agent).
    public var tail: Int?
    public var follow: Bool

    public init(id: String, tasks: [LogTask], tail: Int?, follow: Bool) {
        self.id = id
        self.tasks = tasks
        self.tail = tail
        self.follow = follow
    }
}

public struct LogTask: Codable, Equatable, Sendable {
    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// Body of `POST /v1/nodes/{id}/logs/{subscription}`: lines for a subscription; `done` when the
/// agent has sent everything asked (never for `follow`). The manager answers 410 once nobody
/// reads the subscription any more: the agent stops.
public struct LogChunk: Codable, Equatable, Sendable {
    public var lines: [TaskLogLine]
    public var done: Bool

    public init(lines: [TaskLogLine], done: Bool) {
        self.lines = lines
        self.done = done
    }
}
