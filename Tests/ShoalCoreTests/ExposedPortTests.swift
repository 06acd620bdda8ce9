import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Named ports a service exposes on its networks without publishing them: validated, kept in the
/// spec, and carried to every node's view in FeedService (DNS SRV records are made from them).
@Suite struct ExposedPortTests {
    func spec(_ expose: [ExposedPort]) -> ServiceSpec {
        ServiceSpec(
            name: "web", replicas: 1, command: ["x"], networks: [NetworkAttachment(target: "net")],
            expose: expose)
    }

    @Test func badExposedPortsAreRefusedNamingTheField() async throws {
        let h = try await Harness.make()
        try await h.network(NetworkSpec(name: "net"))
        let cases: [([ExposedPort], String)] = [
            ([ExposedPort(name: "", target: 80)], "expose[0].name"),
            ([ExposedPort(name: "_http", target: 80)], "expose[0].name"),
            ([ExposedPort(name: "http-", target: 80)], "expose[0].name"),
            ([ExposedPort(name: "http", target: 0)], "expose[0].target"),
            (
                [ExposedPort(name: "http", target: 80), ExposedPort(name: "HTTP", target: 81)],
                "expose[1].name"
            ),
        ]
        for (expose, field) in cases {
            await #expect(throws: StoreError.self) { try await h.service(spec(expose)) }
            do {
                try await h.service(spec(expose))
            } catch let StoreError.invalid(got, reason) {
                #expect(got == field, "\(expose): \(reason)")
            }
        }
        #expect(await h.state.services.isEmpty)
        // The same name over another protocol is another SRV owner: allowed.
        try await h.service(
            spec([ExposedPort(name: "dns", protocol: .udp, target: 53), ExposedPort(name: "dns", target: 53)])
        )
    }

    @Test func exposedPortsReachTheFeedAndDecodeWithTCPByDefault() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1").id
        try await h.network(NetworkSpec(name: "net"))
        try await h.service(spec([ExposedPort(name: "metrics", protocol: .udp, target: 9100)]))
        try await h.settle(alive: [node])
        let services = NodeView.compute(await h.state, nodeID: node).values.compactMap {
            if case .service(let service) = $0 { service } else { nil }
        }
        #expect(services.map(\.exposed) == [[ExposedPort(name: "metrics", protocol: .udp, target: 9100)]])
        #expect(services.first?.ports.isEmpty == true)
        let decoded = try JSONDecoder().decode(
            ExposedPort.self, from: Data(#"{"name":"http","target":80}"#.utf8))
        #expect(decoded == ExposedPort(name: "http", protocol: .tcp, target: 80))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ExposedPort.self, from: Data(#"{"name":"http","target":70000}"#.utf8))
        }
    }
}
