import ShoalModel
import Testing

@testable import ShoalCore

/// The manager's relay of task logs: who gets asked, what reaches the reader, when it ends.
@Suite struct LogBrokerTests {
    func collect(_ lines: AsyncStream<TaskLogLine>) async -> [TaskLogLine] {
        var all: [TaskLogLine] = []
        for await line in lines { all.append(line) }
        return all
    }

    @Test func linesOfEveryNodeReachTheReaderAndTheRequestEndsWhenAllAreDone() async throws {
        let broker = LogBroker()
        let (_, n1) = await broker.connect(nodeID: "n1")
        var subscriptions = n1.makeAsyncIterator()
        let (id, lines) = await broker.open(
            tasks: [
                "n1": [LogTask(id: "t1", name: "web.1.t1")], "n3": [LogTask(id: "t3", name: "web.3.t3")],
            ],
            nodeNames: ["n1": "node1", "n3": "node3"], tail: 5, follow: false)
        let asked = try #require(await subscriptions.next())
        #expect(
            asked
                == LogSubscription(
                    id: id, tasks: [LogTask(id: "t1", name: "web.1.t1")], tail: 5, follow: false))
        let line = TaskLogLine(task: "web.1.t1", node: "node1", time: 1, line: "hello")
        #expect(await broker.deliver(LogChunk(lines: [line], done: true), request: id, nodeID: "n1"))
        let got = await collect(lines)
        // node3 has no agent connected: the reader is told, not left waiting.
        #expect(got.map(\.line) == ["no logs from node node3: its agent is not connected", "hello"])
        #expect(got.first?.stream == "error")
        #expect(
            await broker.deliver(LogChunk(lines: [line], done: false), request: id, nodeID: "n1") == false)
        #expect(await broker.openRequests == 0)
    }

    @Test func aFollowRequestLastsUntilTheReaderLeaves() async throws {
        let broker = LogBroker()
        _ = await broker.connect(nodeID: "n1")
        let (id, lines) = await broker.open(
            tasks: ["n1": [LogTask(id: "t1", name: "web.1.t1")]], nodeNames: [:], tail: nil, follow: true)
        var reader = lines.makeAsyncIterator()
        #expect(await reader.next()?.stream == LogBroker.keepalive)
        let line = TaskLogLine(task: "web.1.t1", node: "n1", time: 1, line: "new")
        #expect(await broker.deliver(LogChunk(lines: [line], done: false), request: id, nodeID: "n1"))
        #expect(await reader.next()?.line == "new")
        await broker.close(id)
        // The agent's next chunk is refused (410): it stops following.
        #expect(await broker.deliver(LogChunk(lines: [], done: false), request: id, nodeID: "n1") == false)
    }

    /// A newer connection of a node replaces the older one; the older one's end does not remove it.
    @Test func aReconnectedAgentGetsTheRequests() async throws {
        let broker = LogBroker()
        let (old, _) = await broker.connect(nodeID: "n1")
        let (_, fresh) = await broker.connect(nodeID: "n1")
        await broker.disconnect(nodeID: "n1", token: old)
        var subscriptions = fresh.makeAsyncIterator()
        let (id, _) = await broker.open(
            tasks: ["n1": [LogTask(id: "t1", name: "a")]], nodeNames: [:], tail: nil, follow: false)
        #expect(await subscriptions.next()?.id == id)
    }
}
