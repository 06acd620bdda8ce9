import ArgumentParser
import Foundation
import ShoalAgent
import ShoalModel

/// One line of a task's output, as the manager will stream it (NDJSON) from the agents.
public struct TaskLogLine: Codable, Equatable, Sendable {
    public var task: String
    public var node: String
    /// stdout or stderr
    public var stream: String
    /// Seconds since 1970.
    public var time: Double
    public var line: String

    /// Docker's prefix: `web.1.abc@node1 | line`.
    func formatted(timestamps: Bool) -> String {
        let stamp = timestamps ? Date(timeIntervalSince1970: time).ISO8601Format() + " " : ""
        return "\(stamp)\(task)@\(node)    | \(line)"
    }
}

struct ServiceLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Show the output of a service's tasks (needs agents with task logs).",
        discussion: "Example: shoalctl service logs --follow --tail 20 web")
    @OptionGroup var manager: ManagerOptions
    @Flag(name: .shortAndLong, help: "Keep streaming new output.") var follow = false
    @Option(help: "Lines from the end of each task's log to start with.") var tail: Int?
    @Flag(name: .shortAndLong, help: "Prefix each line with its time.") var timestamps = false
    @Argument(help: "Service id or name") var service: String

    func run() async throws {
        let client = try manager.client()
        let path =
            "/v1/services/\(ManagerAPIClient.escape(service))/logs?follow=\(follow)"
            + (tail.map { "&tail=\($0)" } ?? "")
        let timestamps = timestamps
        let status: Int
        do throws(ClientError) {
            status = try await client.stream(path) { text in
                if let line = try? JSONDecoder().decode(TaskLogLine.self, from: Data(text.utf8)) {
                    print(line.formatted(timestamps: timestamps))
                }
            }
        } catch {
            throw CtlError(error.description)
        }
        if status == 404 {
            throw CtlError(
                "this manager does not serve task logs yet",
                hint: "agents keep no per-task log files before issue #9; docs/cli.md says what remains")
        }
        guard (200..<300).contains(status) else {
            throw CtlError("manager answered \(status) to GET \(path)")
        }
    }
}
