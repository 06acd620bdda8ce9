import Foundation
import Hummingbird
import HummingbirdTesting
import ShoalModel
import Testing

@testable import ShoalCore

/// Issue #13, "data and state": what a careless admin or a second manager could do to the store.
@Suite struct DataAndStateTests {
    func app(_ h: Harness) -> some ApplicationProtocol {
        ManagerAPI.application(manager: h.manager, host: "127.0.0.1", port: 0)
    }

    func revision(_ client: some TestClientProtocol) async throws -> UInt64 {
        try await client.execute(uri: "/v1/info", method: .get) {
            try decoded(APITests.Info.self, $0).revision
        }
    }

    /// Posts `text` and returns the status and the decoded error (nil for a success).
    func post(_ client: some TestClientProtocol, _ uri: String, _ text: String) async throws
        -> (HTTPResponse.Status, ErrorResponse?)
    {
        try await client.execute(uri: uri, method: .post, body: body(text)) { response in
            let error = response.status.code >= 400 ? try decoded(ErrorResponse.self, response) : nil
            return (response.status, error)
        }
    }

    @Test func theDataDirectoryIsLockedAndAStaleLockIsTakenOver() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A lock file left by a process that died: nobody holds the flock, so it is taken.
        try "999999\n".write(toFile: DataDirectoryLock.path(directory), atomically: true, encoding: .utf8)
        var first: DataDirectoryLock? = try DataDirectoryLock(directory: directory)
        #expect(throws: DataDirectoryLockError.held(directory: directory, pid: getpid())) {
            _ = try DataDirectoryLock(directory: directory)
        }
        #expect(first != nil)
        first = nil
        // Released: the next start takes it. Other tests in this process spawn children, and a
        // child between fork and exec briefly holds a copy of every descriptor (O_CLOEXEC acts
        // only at exec), flock included, so allow that moment to pass.
        var taken: DataDirectoryLock?
        for _ in 0..<200 where taken == nil {
            do { taken = try DataDirectoryLock(directory: directory) } catch DataDirectoryLockError.held {
                usleep(10_000)
            }
        }
        #expect(taken != nil, "the released lock was not taken again within 2 s")
    }

    @Test func aSecondManagerOnTheSameDataDirectoryRefusesToStart() async throws {
        let path = ShoaldManagerTests.shoaldPath()
        try #require(FileManager.default.isExecutableFile(atPath: path), "build shoald first")
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["manager", "--data-dir", directory, "--listen", "127.0.0.1:0", "--insecure-dev"]
        let first = Process()
        first.executableURL = URL(fileURLWithPath: path)
        first.arguments = arguments
        let output = Pipe()
        first.standardError = output
        first.standardOutput = output
        try first.run()
        defer {
            first.terminate()
            first.waitUntilExit()
        }
        var log = ""
        while !log.contains("shoald manager listening") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
        }
        let second = try ShoaldManagerTests.runToEnd(arguments)
        #expect(second.status != 0)
        #expect(second.output.contains("is in use by process \(first.processIdentifier)"), "\(second.output)")
        #expect(!second.output.contains("Usage:"), "\(second.output)")
        #expect(first.isRunning)
    }

    @Test func reservedAndOverlappingSubnetsAreRefusedNamingTheOtherNetwork() async throws {
        let h = try await Harness.make()
        let ingress = try #require(await h.state.ingressNetwork)
        try await app(h).test(.live) { client in
            let before = try await revision(client)
            for subnet in ["0.0.0.0/0", "127.0.0.0/24", "224.0.0.0/24", "169.254.1.0/24", "10.070.0.0/24"] {
                let (status, error) = try await post(
                    client, "/v1/networks", #"{"name":"n","subnet":"\#(subnet)"}"#)
                #expect(status == .badRequest, "\(subnet)")
                #expect(error?.field == "subnet", "\(subnet): \(String(describing: error))")
            }
            let around = CIDR(network: ingress.subnet.network, clampedPrefix: 16)
            for subnet in [ingress.subnet.description, around.description] {
                let (status, error) = try await post(
                    client, "/v1/networks", #"{"name":"n","subnet":"\#(subnet)"}"#)
                #expect(status == .conflict, "\(subnet)")
                #expect(error?.reason == "subnet \(subnet) overlaps network ingress (\(ingress.subnet))")
            }
            #expect(try await revision(client) == before)
            let (created, _) = try await post(
                client, "/v1/networks", #"{"name":"big","subnet":"10.50.0.0/16"}"#)
            #expect(created == .created)
            let (status, error) = try await post(
                client, "/v1/networks", #"{"name":"small","subnet":"10.50.3.0/24"}"#)
            #expect(status == .conflict)
            #expect(error?.reason == "subnet 10.50.3.0/24 overlaps network big (10.50.0.0/16)")
            // Automatic subnets still come from the pool.
            let (automatic, _) = try await post(client, "/v1/networks", #"{"name":"auto"}"#)
            #expect(automatic == .created)
        }
    }

    @Test func aNodeIsReadyWhenItRegistersWhileTheReconcilerRuns() async throws {
        let h = try await Harness.make(tickSeconds: 0.0005)
        h.clock.advance(300)
        let loop = Task { await h.manager.run() }
        defer { loop.cancel() }
        for index in 1...40 {
            let node = try await h.addNode("n\(index)", address: "192.168.1.\(index)")
            #expect(node.state == .ready, "n\(index): \(node.status)")
        }
    }

    @Test func aHeartbeatByNameIsAccepted() async throws {
        let h = try await Harness.make()
        try await h.addNode("n1", address: "192.168.0.1")
        try await app(h).test(.live) { client in
            try await client.execute(uri: "/v1/nodes/n1/heartbeat", method: .post) { response in
                #expect(response.status == .ok)
                try #expect(decoded(HeartbeatResponse.self, response).state == .ready)
            }
        }
    }

    @Test func unreachableNodeAddressesAreRefused() async throws {
        let h = try await Harness.make()
        let ingress = try #require(await h.state.ingressNetwork)
        let overlay = IPv4Address(ingress.subnet.network.value + 9)
        try await app(h).test(.live) { client in
            for address in ["0.0.0.0", "255.255.255.255", "224.0.0.5", overlay.description] {
                let (status, error) = try await post(
                    client, "/v1/nodes/register", #"{"name":"n1","address":"\#(address)"}"#)
                #expect(status == .badRequest, "\(address)")
                #expect(error?.field == "address", "\(address): \(String(describing: error))")
            }
        }
        #expect(await h.state.nodes.isEmpty)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            try ClusterSecurity.initialize(dataDir: directory, advertiseAddress: "0.0.0.0")
        } throws: { error in
            "\(error)"
                == "--advertise-addr: 0.0.0.0 is unspecified (0.0.0.0/8), not an address peers can reach"
        }
        #expect(!FileManager.default.fileExists(atPath: ClusterSecurity.pkiDirectory(directory) + "/ca.crt"))
    }

    @Test func namesAreUniqueIgnoringCaseAndNeverAnotherObjectsID() async throws {
        let h = try await Harness.make()
        let ingress = try #require(await h.state.ingressNetwork)
        try await app(h).test(.live) { client in
            #expect(try await post(client, "/v1/services", #"{"name":"web","command":["x"]}"#).0 == .created)
            let (status, error) = try await post(client, "/v1/services", #"{"name":"Web","command":["x"]}"#)
            #expect(status == .conflict)
            #expect(error?.reason == "a service named web exists (names differ only in case)")
            let (shadow, shadowError) = try await post(client, "/v1/networks", #"{"name":"\#(ingress.id)"}"#)
            #expect(shadow == .conflict)
            #expect(shadowError?.reason == "\(ingress.id) is the id of network ingress; choose another name")
            #expect(try await post(client, "/v1/networks", #"{"name":"INGRESS"}"#).0 == .conflict)
        }
        #expect(await h.state.services.count == 1)
        #expect(await h.state.networks.count == 1)
    }

    @Test func unknownFieldsAreRefusedNamingTheField() async throws {
        let h = try await Harness.make()
        try await app(h).test(.live) { client in
            let cases = [
                (#"{"name":"web","command":["x"],"replica":3}"#, "replica"),
                (
                    #"{"name":"web","command":["x"],"ports":[{"target":80,"pubished":8080}]}"#,
                    "ports[0].pubished"
                ),
                (
                    #"{"name":"web","command":["x"],"updatePolicy":{"paralellism":2}}"#,
                    "updatePolicy.paralellism"
                ),
            ]
            for (text, field) in cases {
                let (status, error) = try await post(client, "/v1/services", text)
                #expect(status == .badRequest, "\(text)")
                #expect(error?.field == field, "\(text): \(String(describing: error))")
            }
            // Known fields given as null stay accepted.
            #expect(
                try await post(client, "/v1/services", #"{"name":"web","command":["x"],"labels":null}"#).0
                    == .created)
        }
    }

    @Test func tasksOfARemovedServiceOnADownNodeAreDeleted() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await h.service(ServiceSpec(name: "web", replicas: 2, command: ["x"]))
        try await h.settle(alive: [node.id])
        #expect(await h.state.running("web").count == 2)
        h.clock.advance(60)
        try await h.manager.reconcile()
        #expect(await h.state.nodes[node.id]?.state == .down)
        try await h.manager.apply { state in try Operations.removeService("web", state: &state) }
        try await h.manager.reconcile()
        let left = await h.state.tasks.values.map { "\($0.name) \($0.state)" }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func theDatabaseAndItsWALAreReadableByTheOwnerOnly() async throws {
        let directory = temporaryDirectory() + "/data"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let previous = umask(0o022)
        defer { umask(previous) }
        let store = try SQLiteStore(directory: directory)
        _ = try await store.write { state in state.cursors.lastPort = 30001 }
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        #expect(try mode(directory) == 0o700)
        for file in ["shoal.sqlite", "shoal.sqlite-wal"] {
            #expect(try mode(directory + "/" + file) == 0o600, "\(file)")
        }
    }
}
