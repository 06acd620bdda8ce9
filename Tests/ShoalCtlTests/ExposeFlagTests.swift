import ShoalModel
import Testing

@testable import ShoalCtlKit

/// `service create --expose NAME:PORT[/PROTO]`: named ports for DNS SRV, never published.
@Suite struct ExposeFlagTests {
    @Test func exposedPortsReachTheSpec() throws {
        let spec = try ServiceCreate.parse([
            "--name", "web", "--expose", "http:8080", "--expose", "dns:53/udp", "--", "run",
        ]).spec()
        #expect(
            spec.expose == [
                ExposedPort(name: "http", protocol: .tcp, target: 8080),
                ExposedPort(name: "dns", protocol: .udp, target: 53),
            ])
        #expect(spec.ports == nil)
        #expect(try ServiceCreate.parse(["--name", "web", "--", "run"]).spec().expose == nil)
    }

    @Test(arguments: [
        ("8080", "--expose 8080: expected NAME:PORT[/PROTOCOL]"),
        (":8080", "--expose :8080: expected NAME:PORT[/PROTOCOL]"),
        ("http:0", "--expose http:0: the port must be 1-65535"),
        ("http:80/sctp", "--expose http:80/sctp: the protocol must be tcp or udp"),
    ])
    func badValuesNameTheFlag(value: String, message: String) throws {
        let command = try ServiceCreate.parse(["--name", "web", "--expose", value, "--", "run"])
        do {
            _ = try command.spec()
            Issue.record("\(value) was accepted")
        } catch let error as CtlError {
            #expect(error.message == message)
        }
    }
}
