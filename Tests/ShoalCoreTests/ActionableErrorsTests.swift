import Foundation
import Hummingbird
import HummingbirdTesting
import ShoalModel
import Testing

@testable import ShoalCore

/// Issue #13, "errors a person can act on".
@Suite struct ActionableErrorsTests {
    func app(_ h: Harness) -> some ApplicationProtocol {
        ManagerAPI.application(manager: h.manager, host: "127.0.0.1", port: 0)
    }

    @Test func badNumbersAndValuesNameTheFieldWithoutSwiftInternals() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            let cases: [(String, String, String?)] = [
                ("/v1/networks", #"{"name":"n","mtu":1500.5}"#, "mtu"),
                (
                    "/v1/services", #"{"name":"web","command":["x"],"replicas":9223372036854775808}"#,
                    "replicas"
                ),
                ("/v1/services", #"{"name":"web","command":["x"],"labels":["a"]}"#, "labels"),
                (
                    "/v1/services",
                    #"{"name":"web","command":["x"],"ports":[{"target":80,"protocol":"sctp"}]}"#,
                    "ports[0].protocol"
                ),
            ]
            for (uri, text, field) in cases {
                try await client.execute(uri: uri, method: .post, body: body(text)) { response in
                    #expect(response.status == .badRequest, "\(text)")
                    let error = try decoded(ErrorResponse.self, response)
                    #expect(error.field == field, "\(text): \(error)")
                    for leak in [
                        "Dictionary<", "Array<", "Cannot initialize", "PortProtocol", "Swift.", ".swift:",
                    ] {
                        #expect(!error.reason.contains(leak), "\(text): \(error.reason)")
                    }
                }
            }
        }
    }

    @Test func wrongMethodsAre405WithAllow() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            for method: HTTPRequest.Method in [.put, .options, .trace, .patch] {
                try await client.execute(uri: "/v1/networks", method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method)")
                    #expect(response.headers[.allow] == "GET, POST", "\(method)")
                }
            }
            try await client.execute(uri: "/v1/nodes/n1", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "DELETE, GET")
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                try #expect(decoded(ErrorResponse.self, response).reason.contains("no such route"))
            }
            // Routes with parameters still win over the catch-all.
            try await client.execute(uri: "/v1/networks/ingress", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func forceIsStrictlyBoolean() async throws {
        let h = try await Harness.make()
        try await h.addNode("n1", address: "192.168.0.1")
        try await app(h).test(.live) { client in
            for value in ["-1", "maybe", "1", "TRUE"] {
                try await client.execute(uri: "/v1/nodes/n1?force=\(value)", method: .delete) { response in
                    #expect(response.status == .badRequest, "force=\(value)")
                    try #expect(decoded(ErrorResponse.self, response).field == "force")
                }
            }
            try await client.execute(uri: "/v1/nodes/n1?force=false", method: .delete) { response in
                #expect(response.status == .conflict)
            }
        }
        #expect(await h.state.nodes.count == 1)
    }

    @Test func theJoinListenerSaysWhatItIs() async throws {
        let h = try await Harness.make()
        let join = Application(
            router: ManagerAPI.router(manager: h.manager, mode: .join),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)))
        try await join.test(.live) { client in
            try await client.execute(uri: "/v1/nodes", method: .get) { response in
                #expect(response.status == .notFound)
                let reason = try decoded(ErrorResponse.self, response).reason
                #expect(reason.contains("this is the join listener"), "\(reason)")
            }
        }
    }
}
