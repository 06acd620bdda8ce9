import ShoalModel
import Testing

@testable import ShoalAgent

/// The agent's health state machine (Docker's rules) and how an HTTP answer is judged. The probes
/// themselves run against real tasks in tests/netns/agent-health.sh.
@Suite struct HealthMonitorTests {
    typealias Status = HealthMonitor.Status

    func run(_ results: [String?], check: HealthCheck, startPeriodProbes: Int = 0) -> [TaskHealth] {
        var status = Status(health: .starting, failures: 0, probes: 0)
        var seen: [TaskHealth] = []
        for (index, error) in results.enumerated() {
            status = HealthMonitor.next(
                status, error: error, check: check, inStartPeriod: index < startPeriodProbes)
            seen.append(status.health)
        }
        return seen
    }

    @Test func retriesFailuresInARowMakeItUnhealthyAndOnePassHealsIt() {
        let check = HealthCheck(tcpPort: 80, retries: 3)
        #expect(
            run([nil, "refused", "refused", nil, "refused", "refused", "refused", nil], check: check)
                == [.healthy, .healthy, .healthy, .healthy, .healthy, .healthy, .unhealthy, .healthy])
        // Without a success it stays starting until the retries are used up.
        #expect(run(["refused", "refused", "refused"], check: check) == [.starting, .starting, .unhealthy])
        // retries 0 counts as 1: the first failure.
        #expect(
            run([nil, "refused"], check: HealthCheck(tcpPort: 80, retries: 0)) == [.healthy, .unhealthy])
    }

    @Test func failuresInTheStartPeriodDoNotCountWhileStarting() {
        let check = HealthCheck(tcpPort: 80, retries: 1, startPeriodSeconds: 10)
        #expect(
            run(["refused", "refused", "refused"], check: check, startPeriodProbes: 2) == [
                .starting, .starting, .unhealthy,
            ])
        // Once healthy, a failure in the start period counts.
        #expect(run([nil, "refused"], check: check, startPeriodProbes: 2) == [.healthy, .unhealthy])
    }

    @Test func httpAnswersPassOn2xxAnd3xxOnly() {
        func judge(_ text: String) -> String? { HealthProbe.judge(statusLine: Array(text.utf8), path: "/h") }
        #expect(judge("HTTP/1.0 200 OK\r\nServer: x\r\n") == nil)
        #expect(judge("HTTP/1.1 302 Found\r\n") == nil)
        #expect(judge("HTTP/1.0 404 Not Found\r\n") == "HTTP GET /h: status 404")
        #expect(judge("HTTP/1.0 500 Internal\r\n") == "HTTP GET /h: status 500")
        #expect(judge("SSH-2.0-OpenSSH\r\n") == "HTTP GET /h: not an HTTP answer: SSH-2.0-OpenSSH")
        #expect(judge("") == "HTTP GET /h: not an HTTP answer: ")
    }
}
