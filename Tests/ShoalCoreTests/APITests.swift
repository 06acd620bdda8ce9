import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct APITests {
    func app(_ h: Harness) -> some ApplicationProtocol {
        ManagerAPI.application(manager: h.manager, host: "127.0.0.1", port: 0)
    }

    struct Info: Decodable {
        var revision: UInt64
    }

    @Test func nodesNetworksServicesAndTasksOverHTTP() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            let node = try await client.execute(
                uri: "/v1/nodes/register", method: .post,
                body: body(#"{"name":"n1","address":"192.168.0.1"}"#)
            ) { try decoded(Node.self, $0) }
            #expect(node.state == .ready)
            let beat = try await client.execute(uri: "/v1/nodes/\(node.id)/heartbeat", method: .post) {
                try decoded(HeartbeatResponse.self, $0)
            }
            #expect(beat.periodSeconds == 5)

            try await client.execute(
                uri: "/v1/networks", method: .post, body: body(#"{"name":"web-net","subnet":"10.0.5.0/24"}"#)
            ) {
                response in
                #expect(response.status == .created)
                let network = try decoded(Network.self, response)
                #expect(network.vni == 4097 && network.gateway.description == "10.0.5.1")
            }
            let networks = try await client.execute(uri: "/v1/networks", method: .get) {
                try decoded([Network].self, $0)
            }
            #expect(networks.map(\.name) == ["ingress", "web-net"])
            try await client.execute(uri: "/v1/networks/web-net", method: .get) { #expect($0.status == .ok) }

            let created = try await client.execute(
                uri: "/v1/services", method: .post,
                body: body(
                    #"{"name":"web","replicas":2,"command":["httpd"],"networks":[{"target":"web-net","aliases":["www"]}],"ports":[{"target":80}]}"#
                )
            ) { response in
                #expect(response.status == .created)
                return try decoded(Service.self, response)
            }
            #expect(created.ports.first?.published == 30000)
            #expect(created.virtualIPs.count == 2)

            let tasks = try await client.execute(uri: "/v1/tasks?service=web", method: .get) {
                try decoded([ClusterTask].self, $0)
            }
            #expect(tasks.count == 2)
            #expect(tasks.allSatisfy { $0.nodeID == node.id && $0.state == .assigned })
            #expect(
                tasks.allSatisfy { $0.endpoints.first { $0.networkName == "web-net" }?.aliases == ["www"] })

            // The agent reports a task running.
            let report = #"{"nodeID":"\#(node.id)","state":"running","message":"started"}"#
            let reported = try await client.execute(
                uri: "/v1/tasks/\(tasks[0].id)/status", method: .post, body: body(report)
            ) {
                try decoded(ClusterTask.self, $0)
            }
            #expect(reported.state == .running && reported.status == "started")
            try await client.execute(uri: "/v1/tasks/\(tasks[0].name)", method: .get) { response in
                try #expect(decoded(ClusterTask.self, response).state == .running)
            }
            // A report from another node is refused.
            try await client.execute(
                uri: "/v1/tasks/\(tasks[1].id)/status", method: .post,
                body: body(#"{"nodeID":"other","state":"running"}"#)
            ) { #expect($0.status == .conflict) }

            // Optimistic updates: the current version works, a stale one is a conflict, none is a 400.
            let current = try await client.execute(uri: "/v1/services/web", method: .get) {
                try decoded(Service.self, $0)
            }
            let update =
                #"{"name":"web","replicas":3,"command":["httpd"],"networks":[{"target":"web-net"}],"ports":[{"target":80}]}"#
            try await client.execute(
                uri: "/v1/services/web/update?version=\(current.version)", method: .post, body: body(update)
            ) {
                response in
                #expect(response.status == .ok)
                try #expect(decoded(Service.self, response).spec.replicas == 3)
            }
            try await client.execute(
                uri: "/v1/services/web/update?version=\(current.version)", method: .post, body: body(update)
            ) {
                response in
                #expect(response.status == .conflict)
                try #expect(decoded(ErrorResponse.self, response).reason.contains("version"))
            }
            try await client.execute(uri: "/v1/services/web/update", method: .post, body: body(update)) {
                response in
                #expect(response.status == .badRequest)
                try #expect(decoded(ErrorResponse.self, response).field == "version")
            }
            let nodeNow = try await client.execute(uri: "/v1/nodes/n1", method: .get) {
                try decoded(Node.self, $0)
            }
            try await client.execute(
                uri: "/v1/nodes/n1/update?version=\(nodeNow.version)", method: .post,
                body: body(#"{"availability":"pause"}"#)
            ) { response in
                try #expect(decoded(Node.self, response).availability == .pause)
            }
            try await client.execute(uri: "/v1/nodes", method: .get) {
                try #expect(decoded([Node].self, $0).count == 1)
            }

            // Remove: the network is in use until the service is gone.
            try await client.execute(uri: "/v1/networks/web-net", method: .delete) { response in
                #expect(response.status == .conflict)
                try #expect(
                    decoded(ErrorResponse.self, response).reason == "network web-net is in use by service web"
                )
            }
            try await client.execute(uri: "/v1/tasks/\(tasks[1].id)", method: .delete) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/v1/services/web", method: .delete) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/v1/services/web", method: .get) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/nodes/n1", method: .delete) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/v1/nodes/n1?force=true", method: .delete) {
                #expect($0.status == .noContent)
            }
            for uri in ["/v1/nodes/nope", "/v1/networks/nope", "/v1/services/nope", "/v1/tasks/nope"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound)
                    try #expect(
                        decoded(ErrorResponse.self, response).reason
                            == "no \(uri.split(separator: "/")[1].dropLast()) nope")
                }
            }
        }
    }

    @Test func badInputIs400NamingTheFieldAndStoresNothing() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            let before = try await client.execute(uri: "/v1/info", method: .get) {
                try decoded(Info.self, $0).revision
            }
            let cases: [(String, String, String?)] = [
                ("/v1/services", #"{"name":"web"}"#, "command"),
                ("/v1/services", #"{"name":"web","command":["x"],"replicas":"three"}"#, "replicas"),
                ("/v1/services", #"{"name":"web","command":["x"],"replicas":-1}"#, "replicas"),
                (
                    "/v1/services", #"{"name":"web","command":["x"],"ports":[{"target":70000}]}"#,
                    "ports[0].target"
                ),
                (
                    "/v1/services",
                    #"{"name":"web","command":["x"],"ports":[{"target":80,"protocol":"sctp"}]}"#,
                    "ports[0].protocol"
                ),
                (
                    "/v1/services", #"{"name":"web","command":["x"],"networks":[{"target":"nope"}]}"#,
                    "networks[0].target"
                ),
                (
                    "/v1/services",
                    #"{"name":"web","command":["x"],"endpointMode":"dnsrr","ports":[{"target":80}]}"#,
                    "ports[0].publishMode"
                ),
                ("/v1/services", #"{"name":"web","command":["x"],"env":["NOEQUALS"]}"#, "env[0]"),
                ("/v1/services", #"{"name":"web","command":["x"],"scheduler":"fastest"}"#, "scheduler"),
                (
                    "/v1/services",
                    #"{"name":"web","command":["x"],"endpointMode":"dnsrr","scheduler":"lc"}"#,
                    "scheduler"
                ),
                ("/v1/services", #"{"name":"-web","command":["x"]}"#, "name"),
                ("/v1/networks", #"{"name":"n","subnet":"10.0.0.0/99"}"#, "subnet"),
                ("/v1/networks", #"{"name":"n","subnet":"10.7.0.0/24","gateway":"10.8.0.1"}"#, "gateway"),
                ("/v1/networks", "not json", nil),
                ("/v1/nodes/register", #"{"name":"n1","address":"999.1.1.1"}"#, "address"),
            ]
            for (uri, text, field) in cases {
                try await client.execute(uri: uri, method: .post, body: body(text)) { response in
                    #expect(response.status == .badRequest, "\(text)")
                    let error = try decoded(ErrorResponse.self, response)
                    #expect(error.field == field, "\(text): \(error)")
                    #expect(!error.reason.isEmpty)
                }
            }
            let after = try await client.execute(uri: "/v1/info", method: .get) {
                try decoded(Info.self, $0).revision
            }
            #expect(after == before)
            #expect(await h.state.services.isEmpty)
        }
    }

    @Test func publishedPortConflictIs409NamingTheHolder() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            let spec = #"{"name":"NAME","command":["x"],"ports":[{"target":80,"published":8080}]}"#
            try await client.execute(
                uri: "/v1/services", method: .post,
                body: body(spec.replacingOccurrences(of: "NAME", with: "web"))
            ) {
                #expect($0.status == .created)
            }
            try await client.execute(
                uri: "/v1/services", method: .post,
                body: body(spec.replacingOccurrences(of: "NAME", with: "api"))
            ) {
                response in
                #expect(response.status == .conflict)
                try #expect(
                    decoded(ErrorResponse.self, response).reason
                        == "port tcp/8080 is already published by service web")
            }
            try await client.execute(uri: "/v1/networks", method: .post, body: body(#"{"name":"ingress"}"#)) {
                #expect($0.status == .conflict)
            }
            #expect(await h.state.services.count == 1)
        }
    }

    @Test func feedStreamsNDJSONOverHTTP() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await app(h).test(.live) { client in
            let port = try #require(client.port)
            // Unknown node: 404 before any streaming.
            let missing = try await readFeed(port: port, path: "/v1/nodes/nope/feed") { _ in true }
            #expect(missing.status == .notFound)

            let manager = h.manager
            let changer = Task {
                try await Task.sleep(for: .milliseconds(300))
                let config = manager.config.allocator
                try await manager.apply { state in
                    _ = try Operations.createService(
                        ServiceSpec(name: "web", command: ["x"]), id: "svc1", state: &state, config: config)
                }
            }
            let result = try await readFeed(port: port, path: "/v1/nodes/n1/feed") { messages in
                messages.contains { $0.type == .incremental } && messages.contains { $0.type == .keepalive }
            }
            try await changer.value
            #expect(result.status == .ok)
            #expect(result.contentType == "application/x-ndjson")
            #expect(result.messages.first?.type == .complete)
            var view = FeedView()
            for message in result.messages {
                #expect(view.apply(message) != .gap(expected: view.revision ?? 0, got: message.from ?? 0))
            }
            let task = view.objects.values.compactMap { if case .task(let t) = $0 { t } else { nil } }
            #expect(task.map(\.serviceName) == ["web"])

            // Resume over HTTP from the COMPLETE's revision, in the same store's history.
            let since = try #require(result.messages.first?.revision)
            let identity = try #require(result.messages.first?.store)
            let resumed = try await readFeed(
                port: port, path: "/v1/nodes/\(node.id)/feed?since=\(since)&store=\(identity)"
            ) {
                !$0.isEmpty
            }
            #expect(resumed.messages.first?.type == .incremental)
            #expect(resumed.messages.first?.from == since)
            let bad = try await readFeed(port: port, path: "/v1/nodes/n1/feed?since=x") { _ in true }
            #expect(bad.status == .badRequest)

            // Closed feeds let go of their subscriptions (noticed at the next keep-alive).
            var open = h.manager.feeds.subscriberCount
            for _ in 0..<30 where open > 0 {
                try await Task.sleep(for: .milliseconds(100))
                open = h.manager.feeds.subscriberCount
            }
            #expect(open == 0)
        }
    }
}
