import ShoalModel
import Testing

@testable import ShoalDNS

/// The lab view as the core sends it: a service's network aliases are copied onto its endpoints,
/// and web exposes an unpublished named UDP port; db (dnsrr) has the alias "store".
private func coreLikeView() throws -> [FeedObject] {
    try labView().map { object in
        switch object {
        case .endpoint(var endpoint) where endpoint.serviceName == "web":
            endpoint.aliases += ["WWW"]
            return .endpoint(endpoint)
        case .endpoint(var endpoint) where endpoint.serviceName == "db":
            endpoint.aliases += ["store"]
            return .endpoint(endpoint)
        case .service(var service) where service.serviceName == "web":
            service.exposed = [ExposedPort(name: "metrics", protocol: .udp, target: 9100)]
            return .service(service)
        case .service(var service) where service.serviceName == "db":
            service.aliases = ["store"]
            service.exposed = [ExposedPort(name: "pg", target: 5432)]
            return .service(service)
        default:
            return object
        }
    }
}

@Suite struct ServiceAliasAndExposedTests {
    @Test func aServiceAliasOnTheEndpointsAnswersTheServiceOnly() throws {
        let view = try coreLikeView()
        let www = try answer(try makeQuery("www", .a), scope: .task("t-cf"), view: view)
        #expect(www?.answers.count == 1 && addresses(www) == ["10.10.0.2"])
        // dnsrr: each task once, not once for the service alias and again for the endpoint's.
        let store = try answer(try makeQuery("store", .a), scope: .task("t-cb"), view: view)
        #expect(store?.answers.count == 2 && addresses(store) == ["10.20.0.21", "10.20.0.22"])
        // An endpoint's own alias still names its task.
        #expect(
            addresses(try answer(try makeQuery("web-primary", .a), scope: .task("t-cf"), view: view)) == [
                "10.10.0.11"
            ])
    }

    @Test func exposedPortsGetSRVRecords() throws {
        let view = try coreLikeView()
        let metrics = try answer(try makeQuery("_metrics._udp.web", .srv), scope: .task("t-cf"), view: view)
        #expect(
            metrics?.answers.map(\.data) == [
                .srv(priority: 0, weight: 10, port: 9100, target: try DNSName("web.front"))
            ])
        // dnsrr: one SRV per running task, naming the task.
        let pg = try answer(try makeQuery("_pg._tcp.db", .srv), scope: .task("t-cb"), view: view)
        #expect(
            Set(pg?.answers.map(\.data) ?? []) == [
                .srv(priority: 0, weight: 10, port: 5432, target: try DNSName("db.d1.back")),
                .srv(priority: 0, weight: 10, port: 5432, target: try DNSName("db.d2.back")),
            ])
        // The published port keeps its record; a port name over the wrong protocol is not Shoal's.
        #expect(
            try answer(try makeQuery("_http._tcp.web", .srv), scope: .task("t-cf"), view: view)?.answers.count
                == 1)
        #expect(
            try answer(try makeQuery("_metrics._tcp.web", .srv), scope: .task("t-cf"), view: view)?.header
                .rcode
                == DNSRCode.refused.rawValue)
    }
}
