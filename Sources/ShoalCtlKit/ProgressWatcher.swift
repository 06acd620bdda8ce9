import ArgumentParser
import Foundation
import ShoalModel

/// `--detach` and `--timeout` of the commands that change services.
struct WaitOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Return at once instead of waiting for the tasks to run.")
    var detach = false

    @Option(help: "Seconds to wait for the service to converge; exit non-zero after that.")
    var timeout: Double = 60
}

/// Polls the manager until the services converge, printing progress: redrawn lines on a terminal,
/// a line per change otherwise. Throws when they do not converge in time or an update pauses.
struct ProgressWatcher {
    let api: ManagerAPIClient
    let timeout: Double
    var interval: Double = 0.3
    let terminal = isatty(STDOUT_FILENO) == 1

    func wait(for names: [String]) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var printed: [String: [String]] = [:]
        var drawn: [String] = []
        while true {
            let nodes = try await api.nodes()
            var states: [Convergence] = []
            for name in names {
                let service = try await api.service(name)
                states.append(
                    Convergence(
                        service: service, tasks: try await api.tasks(service: service.id), nodes: nodes))
            }
            if terminal {
                redraw(states, drawn: &drawn)
            } else {
                for state in states { printChanges(state, &printed) }
            }
            if let failed = states.first(where: { $0.failure != nil }), let failure = failed.failure {
                throw CtlError(
                    "service \(failed.service) did not converge: \(failure)",
                    hint: "shoalctl service ps \(failed.service) shows the failed task; "
                        + "shoalctl service rollback \(failed.service) returns to the previous spec")
            }
            if states.allSatisfy(\.done) {
                for state in states { print("\(state.service): converged") }
                return
            }
            if Date() >= deadline {
                let late = states.filter { !$0.done }
                let reasons = late.map { state in
                    "\(state.service): \(state.running) out of \(state.desired) tasks running"
                        + (state.slots.first { $0.state != "running" }.map {
                            " (\($0.label) \($0.state): \($0.detail))"
                        } ?? "")
                }
                throw CtlError(
                    "not converged within \(Int(timeout)) s: " + reasons.joined(separator: "; "),
                    hint:
                        "shoalctl service ps NAME shows each task; --timeout waits longer, --detach does not wait"
                )
            }
            try await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
        }
    }

    private func lines(_ state: Convergence) -> [String] {
        ["\(state.service): \(state.overall)"]
            + state.slots.map {
                "  \($0.label): \($0.state.padding(toLength: 9, withPad: " ", startingAt: 0)) \($0.detail)"
            }
    }

    /// Moves the cursor up over the last drawing and writes the new one, when it changed.
    private func redraw(_ states: [Convergence], drawn: inout [String]) {
        let all = states.flatMap(lines)
        guard all != drawn else { return }
        var text = (drawn.isEmpty ? "" : "\u{1B}[\(drawn.count)A") + "\u{1B}[J"
        for line in all { text += "\u{1B}[2K" + line + "\n" }
        FileHandle.standardOutput.write(Data(text.utf8))
        drawn = all
    }

    /// Plain output for logs and pipes: the overall line and each slot line when they change.
    private func printChanges(_ state: Convergence, _ printed: inout [String: [String]]) {
        let now = lines(state)
        let before = printed[state.service] ?? []
        for (index, line) in now.enumerated() where index >= before.count || before[index] != line {
            print(line)
        }
        printed[state.service] = now
    }
}
