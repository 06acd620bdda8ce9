import ArgumentParser
import ShoalModel

/// The health check flags of `service create` and `service update`: one probe (a command, a TCP
/// port or an HTTP GET, all inside the task's network namespace) and Docker's timings.
struct HealthOptions: ParsableArguments {
    @Option(help: "Health check command, run with /bin/sh -c in the task's namespace")
    var healthCmd: String?
    @Option(help: "Health check: a TCP connect to this port on 127.0.0.1 in the task's namespace")
    var healthTcp: UInt16?
    @Option(help: "Health check: HTTP GET PORT[/PATH] on 127.0.0.1 in the task's namespace; 2xx/3xx pass")
    var healthHttp: String?
    @Option(help: "Time between health checks (30s)") var healthInterval: String?
    @Option(help: "Time a health check may take (30s)") var healthTimeout: String?
    @Option(help: "Failures in a row before a task is unhealthy (3)") var healthRetries: Int?
    @Option(help: "Time after the start when failures do not count (0s)") var healthStartPeriod: String?

    /// The check with these flags applied: a probe flag replaces the probe, timings change only
    /// what they name. Nil when there was none and no flag makes one.
    func apply(to current: HealthCheck?) throws(CtlError) -> HealthCheck? {
        let probes = [healthCmd != nil, healthTcp != nil, healthHttp != nil].filter { $0 }.count
        if probes > 1 { throw CtlError("give only one of --health-cmd, --health-tcp and --health-http") }
        let timings =
            healthInterval != nil || healthTimeout != nil || healthRetries != nil
            || healthStartPeriod != nil
        guard var check = current ?? (probes > 0 ? HealthCheck() : nil) else {
            if timings {
                throw CtlError(
                    "--health-interval, --health-timeout, --health-retries and --health-start-period need"
                        + " --health-cmd, --health-tcp or --health-http")
            }
            return nil
        }
        if probes > 0 {
            check.command = healthCmd.map { ["/bin/sh", "-c", $0] } ?? []
            check.tcpPort = healthTcp
            check.http = try healthHttp.map(Self.http)
        }
        if let healthInterval {
            check.intervalSeconds = try ServiceFlags.seconds(healthInterval, flag: "--health-interval")
        }
        if let healthTimeout {
            check.timeoutSeconds = try ServiceFlags.seconds(healthTimeout, flag: "--health-timeout")
        }
        if let healthRetries { check.retries = healthRetries }
        if let healthStartPeriod {
            check.startPeriodSeconds = try ServiceFlags.seconds(
                healthStartPeriod, flag: "--health-start-period")
        }
        return check
    }

    /// `8080/healthz` or `8080`.
    static func http(_ text: String) throws(CtlError) -> HTTPHealthProbe {
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        guard let port = UInt16(text[..<slash]), port > 0 else {
            throw CtlError(
                "--health-http \(text) must look like PORT[/PATH]", hint: "--health-http 8080/healthz")
        }
        return HTTPHealthProbe(port: port, path: slash == text.endIndex ? "/" : String(text[slash...]))
    }
}
