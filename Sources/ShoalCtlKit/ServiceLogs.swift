import ArgumentParser
import Foundation
import ShoalAgent
import ShoalModel
import Synchronization

extension TaskLogLine {
    /// Docker's prefix: `web.1.abc@node1    | line`.
    func formatted(timestamps: Bool) -> String {
        let stamp = timestamps ? Date(timeIntervalSince1970: time).ISO8601Format() + " " : ""
        return "\(stamp)\(task)@\(node)    | \(line)"
    }
}

struct ServiceLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Show the output of a service's tasks, or of one task.",
        discussion: """
            The manager asks the agents holding the tasks for their log files and relays the lines \
            (docs/cli.md says what is bounded and what can be lost).
            Example: shoalctl service logs --follow --tail 20 web
            """)
    @OptionGroup var manager: ManagerOptions
    @Flag(name: .shortAndLong, help: "Keep streaming new output.") var follow = false
    @Option(help: "Lines from the end of each task's log to start with.") var tail: Int?
    @Flag(name: .shortAndLong, help: "Prefix each line with its time.") var timestamps = false
    @Argument(help: "Service id or name, or a task id or name") var service: String

    func run() async throws {
        if let tail, tail < 0 { throw CtlError("--tail \(tail) must be 0 or more") }
        let client = try manager.client()
        let query = "/logs?follow=\(follow)" + (tail.map { "&tail=\($0)" } ?? "")
        let escaped = ManagerAPIClient.escape(service)
        // A service first, as `docker service logs` does; then a task of that name or id.
        for path in ["/v1/services/\(escaped)" + query, "/v1/tasks/\(escaped)" + query] {
            let missing = MissingNodes()
            let status = try await stream(client, path, missing: missing)
            if status == 404 { continue }
            guard (200..<300).contains(status) else {
                throw CtlError("manager answered \(status) to GET \(path)")
            }
            // Partial output is printed, but a script must be able to tell it was partial.
            let count = missing.count.withLock { $0 }
            if count > 0 {
                throw CtlError(
                    "the logs of \(count) node(s) are missing (see the warnings)",
                    hint: "shoalctl node ls: are their agents ready?")
            }
            return
        }
        throw CtlError(
            "no service or task \(service)", hint: "shoalctl service ls; shoalctl service ps SERVICE")
    }

    /// Prints each line as it comes (flushed: `--follow` is read through pipes too); the manager's
    /// notes about missing nodes go to stderr.
    func stream(_ client: HTTPClient, _ path: String, missing: MissingNodes) async throws -> Int {
        let timestamps = timestamps
        do throws(ClientError) {
            return try await client.stream(path) { text in
                guard let line = try? JSONDecoder().decode(TaskLogLine.self, from: Data(text.utf8)) else {
                    return
                }
                if line.stream == "error" {
                    missing.count.withLock { $0 += 1 }
                    FileHandle.standardError.write(Data(("warning: " + line.line + "\n").utf8))
                } else {
                    FileHandle.standardOutput.write(
                        Data((line.formatted(timestamps: timestamps) + "\n").utf8))
                }
            }
        } catch {
            throw CtlError(error.description)
        }
    }
}

/// How many `error` lines (nodes whose logs are missing) a stream carried.
final class MissingNodes: Sendable {
    let count = Mutex(0)
}
