import Foundation
import ShoalModel

/// Relays task logs from the agents to readers, on demand, as swarmkit's LogBroker does: a reader
/// opens a request; the manager sends a `LogSubscription` to each node holding its tasks (on the
/// agent's `GET /v1/nodes/{id}/logs` stream); the agents post `LogChunk`s, which go to the reader.
/// Nothing is kept: lines exist only in the agents' files and in flight. Memory only.
public actor LogBroker {
    /// Lines waiting for a slow reader, per request; beyond this the oldest are dropped.
    public static let bufferedLines = 10_000
    /// A node that has not finished a non-follow request by then is reported missing.
    public static let answerSeconds: Double = 10
    /// The `stream` of the blank lines a follow request gets every 2 s (to notice a reader gone).
    static let keepalive = "keepalive"

    struct Request {
        var lines: AsyncStream<TaskLogLine>.Continuation
        /// Nodes that have not sent `done` yet (non-follow).
        var waiting: Set<String>
        var nodeNames: [String: String]
    }

    private var agents: [String: (token: Int, stream: AsyncStream<LogSubscription>.Continuation)] = [:]
    private var nextToken = 0
    private var requests: [String: Request] = [:]

    public init() {}

    /// An agent's subscription stream; a newer connection of the same node replaces an older one.
    func connect(nodeID: String) -> (token: Int, stream: AsyncStream<LogSubscription>) {
        nextToken += 1
        let (stream, continuation) = AsyncStream<LogSubscription>.makeStream()
        agents[nodeID]?.stream.finish()
        agents[nodeID] = (nextToken, continuation)
        return (nextToken, stream)
    }

    func disconnect(nodeID: String, token: Int) {
        guard agents[nodeID]?.token == token else { return }
        agents[nodeID]?.stream.finish()
        agents[nodeID] = nil
    }

    /// Opens a request for the tasks on each node. Nodes without a connected agent get an `error`
    /// line at once; a non-follow request ends when every node is done or after `answerSeconds`.
    func open(tasks: [String: [LogTask]], nodeNames: [String: String], tail: Int?, follow: Bool)
        -> (id: String, lines: AsyncStream<TaskLogLine>)
    {
        let id = ObjectID.make()
        let (lines, continuation) = AsyncStream<TaskLogLine>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.bufferedLines))
        var waiting = Set<String>()
        for nodeID in tasks.keys.sorted() {
            guard let agent = agents[nodeID], let nodeTasks = tasks[nodeID] else {
                continuation.yield(missing(nodeID, names: nodeNames, why: "its agent is not connected"))
                continue
            }
            agent.stream.yield(LogSubscription(id: id, tasks: nodeTasks, tail: tail, follow: follow))
            waiting.insert(nodeID)
        }
        requests[id] = Request(lines: continuation, waiting: waiting, nodeNames: nodeNames)
        if follow {
            Task {
                while self.ping(id) { try? await Task.sleep(for: .seconds(2)) }
            }
        } else {
            if waiting.isEmpty {
                close(id)
            } else {
                Task {
                    try? await Task.sleep(for: .seconds(Self.answerSeconds))
                    self.expire(id)
                }
            }
        }
        return (id, lines)
    }

    func missing(_ nodeID: String, names: [String: String], why: String) -> TaskLogLine {
        TaskLogLine(
            task: "", node: names[nodeID] ?? nodeID, stream: "error",
            time: Date().timeIntervalSince1970, line: "no logs from node \(names[nodeID] ?? nodeID): \(why)")
    }

    func expire(_ id: String) {
        guard let request = requests[id] else { return }
        for nodeID in request.waiting.sorted() {
            request.lines.yield(
                missing(nodeID, names: request.nodeNames, why: "no answer in \(Int(Self.answerSeconds)) s"))
        }
        close(id)
    }

    /// An agent's chunk; false when nobody reads the request any more (the agent stops).
    func deliver(_ chunk: LogChunk, request id: String, nodeID: String) -> Bool {
        guard var request = requests[id] else { return false }
        for line in chunk.lines { request.lines.yield(line) }
        if chunk.done {
            request.waiting.remove(nodeID)
            requests[id] = request
            if request.waiting.isEmpty { close(id) }
        }
        return true
    }

    func ping(_ id: String) -> Bool {
        guard let request = requests[id] else { return false }
        request.lines.yield(TaskLogLine(task: "", node: "", stream: Self.keepalive, time: 0, line: ""))
        return true
    }

    /// The reader left (or everything was sent).
    func close(_ id: String) {
        requests.removeValue(forKey: id)?.lines.finish()
    }

    var openRequests: Int { requests.count }
}
