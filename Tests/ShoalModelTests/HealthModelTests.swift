import Foundation
import Testing

@testable import ShoalModel

@Suite struct HealthModelTests {
    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    /// Specs written before TCP and HTTP checks (command only) still decode as they were.
    @Test func olderCommandChecksDecode() throws {
        let check = try decode(HealthCheck.self, #"{"command":["curl","-f","localhost"],"retries":2}"#)
        #expect(check == HealthCheck(command: ["curl", "-f", "localhost"], retries: 2))
        #expect(
            check.effectiveInterval == 30 && check.effectiveTimeout == 30 && check.effectiveStartPeriod == 0)
    }

    @Test func tcpAndHTTPChecksDecodeWithDefaults() throws {
        #expect(try decode(HealthCheck.self, #"{"tcpPort":6379}"#) == HealthCheck(tcpPort: 6379))
        #expect(
            try decode(HealthCheck.self, #"{"http":{"port":8080},"startPeriodSeconds":5}"#)
                == HealthCheck(http: HTTPHealthProbe(port: 8080, path: "/"), startPeriodSeconds: 5))
        #expect(throws: DecodingError.self) { try decode(HealthCheck.self, #"{"tcpPort":70000}"#) }
    }

    /// A task stored before health existed decodes with no health; one with health round-trips.
    @Test func taskHealthIsOptionalAndRoundTrips() throws {
        var task = ClusterTask(
            id: "t", name: "web.1.t", serviceID: "s", serviceName: "web", slot: 1, generation: 1,
            state: .running, spec: TaskSpec(command: ["x"], healthCheck: HealthCheck(tcpPort: 80)),
            endpoints: [])
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(task)) as? [String: Any] ?? [:]
        #expect(json["health"] == nil)
        let old = try JSONDecoder().decode(
            ClusterTask.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.health == nil && !old.isServing)

        task.health = .unhealthy
        task.unhealthySince = 12.5
        json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(task)) as? [String: Any] ?? [:]
        #expect(json["health"] as? String == "unhealthy")
        #expect(try JSONDecoder().decode(ClusterTask.self, from: JSONEncoder().encode(task)) == task)
        task.health = .healthy
        #expect(task.isServing)
    }

    @Test func reportsAndEndpointStatesCarryHealth() throws {
        let report = try decode(
            TaskStatusReport.self, #"{"nodeID":"n","state":"running","health":"healthy"}"#)
        #expect(report == TaskStatusReport(nodeID: "n", state: .running, health: .healthy))
        #expect(try decode(EndpointState.self, #""unhealthy""#) == .unhealthy)
    }

    /// Replacement waits as long again as it took to be declared unhealthy.
    @Test func replaceAfterIsRetriesTimesInterval() {
        #expect(HealthCheck(tcpPort: 1, intervalSeconds: 2, retries: 3).replaceAfterSeconds == 6)
        #expect(HealthCheck(tcpPort: 1, intervalSeconds: 5, retries: 0).replaceAfterSeconds == 5)
        #expect(HealthCheck(tcpPort: 1).replaceAfterSeconds == 90)
    }
}
