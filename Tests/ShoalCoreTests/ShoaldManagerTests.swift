import Foundation
import Synchronization
import Testing

/// `shoald manager` as a user starts it: the built executable, a data directory, a listen address.
@Suite struct ShoaldManagerTests {
    /// The executable next to this test bundle in the build directory.
    static func shoaldPath() -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("shoald").path
    }

    @Test func startsServesAndKeepsItsStateAcrossRestarts() async throws {
        let path = Self.shoaldPath()
        try #require(FileManager.default.isExecutableFile(atPath: path), "build shoald first: \(path)")
        let directory = NSTemporaryDirectory() + "shoald-test-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var ingressIDs: [String] = []
        for _ in 0..<2 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = [
                "manager", "--data-dir", directory, "--listen", "127.0.0.1:0", "--insecure-dev",
            ]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = errors
            try process.run()
            defer {
                if process.isRunning { process.terminate() }
            }
            // The log line names the bound port.
            var log = ""
            var port: Int?
            let handle = errors.fileHandleForReading
            while port == nil {
                let data = handle.availableData
                if data.isEmpty { break }
                log += String(decoding: data, as: UTF8.self)
                if let range = log.range(of: "shoald manager listening on 127.0.0.1:") {
                    port = Int(log[range.upperBound...].prefix { $0.isNumber })
                }
            }
            let bound = try #require(port, "no listening line in: \(log)")
            let info = try await httpGet(port: bound, path: "/v1/info")
            #expect(info.status == .ok)
            #expect(info.body.contains("\"networks\":1"))
            let networks = try await httpGet(port: bound, path: "/v1/networks")
            let decoded = try JSONSerialization.jsonObject(with: Data(networks.body.utf8)) as? [[String: Any]]
            ingressIDs.append(try #require(decoded?.first?["id"] as? String))
            process.terminate()
            process.waitUntilExit()
            #expect(FileManager.default.fileExists(atPath: directory + "/shoal.sqlite"))
        }
        // The second start found the store: same ingress network.
        #expect(ingressIDs.count == 2 && ingressIDs[0] == ingressIDs[1])
    }

    /// Runs shoald to completion; returns its exit status and everything it printed.
    static func runToEnd(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shoaldPath())
        process.arguments = arguments
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func refusesToStartWithoutInitAndInitPrintsTheJoinCommand() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.shoaldPath()), "build shoald first")
        let directory = NSTemporaryDirectory() + "shoald-init-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let refused = try Self.runToEnd(["manager", "--data-dir", directory, "--listen", "127.0.0.1:0"])
        #expect(refused.status != 0)
        #expect(
            refused.output.contains("run `shoald manager init --data-dir \(directory)"), "\(refused.output)")

        let initialized = try Self.runToEnd([
            "manager", "init", "--data-dir", directory, "--advertise-addr", "127.0.0.1",
        ])
        #expect(initialized.status == 0)
        #expect(
            initialized.output.contains(
                "shoald agent --data-dir /var/lib/shoal --join 127.0.0.1:2378 --token SHOAL-1-"))
        // A second init would make a second CA: refused.
        let again = try Self.runToEnd([
            "manager", "init", "--data-dir", directory, "--advertise-addr", "127.0.0.1",
        ])
        #expect(again.status != 0)
        #expect(again.output.contains("already holds a cluster CA"))
    }

    @Test func insecureDevShoutsInTheLog() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.shoaldPath()), "build shoald first")
        let directory = NSTemporaryDirectory() + "shoald-insecure-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.shoaldPath())
        process.arguments = ["manager", "--data-dir", directory, "--listen", "127.0.0.1:0", "--insecure-dev"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        let log = Mutex("")
        output.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            log.withLock { $0 += text }
        }
        try process.run()
        defer {
            output.fileHandleForReading.readabilityHandler = nil
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        let warning =
            "critical shoald.manager: [shoald] --insecure-dev: the manager API is PLAIN HTTP WITHOUT AUTHENTICATION"
        for _ in 0..<250 where !log.withLock({ $0.contains(warning) }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(log.withLock { $0.contains(warning) }, "\(log.withLock { $0 })")
    }
}
