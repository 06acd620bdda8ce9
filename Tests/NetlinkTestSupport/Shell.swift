import Foundation
import Glibc
import Netlink
import Synchronization
import Testing

/// Runs iproute2 and friends for the checks: the tests assert on what `ip`/`bridge` print.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    /// `ip -n NS ARGS...`
    @discardableResult
    public static func ip(_ namespace: String, _ arguments: String...) throws -> String {
        try run(["ip", "-n", namespace] + arguments)
    }

    @discardableResult
    public static func bridge(_ namespace: String, _ arguments: String...) throws -> String {
        try run(["ip", "netns", "exec", namespace, "bridge"] + arguments)
    }
}

/// Unique namespace names per run ("sht<run tag><pid>-<n>"), removed even when a test fails.
/// The tag is SHOAL_RUN_TAG, which scripts/test sets to find its own leftovers.
public enum Scratch {
    private static let counter = Atomic<Int>(0)
    private static let runTag = ProcessInfo.processInfo.environment["SHOAL_RUN_TAG"] ?? ""

    public static func name(_ tag: String) -> String {
        "sht\(runTag)\(getpid())-\(tag)\(counter.add(1, ordering: .relaxed).newValue)"
    }

    /// The tests need root; without it they fail, they do not skip.
    public static func requireRoot() throws {
        try #require(
            geteuid() == 0,
            "these tests need root: `scripts/test netns` runs the netns ones, `scripts/test vm` the IPVS ones in the kernel VM"
        )
    }

    /// Makes `count` namespaces with `ip netns add`, runs `body`, deletes them whatever happens.
    public static func withNamespaces(
        _ count: Int, _ body: ([String]) async throws -> Void
    ) async throws {
        try requireRoot()
        var names: [String] = []
        defer {
            for name in names { _ = try? Shell.run(["ip", "netns", "delete", name]) }
        }
        for _ in 0..<count {
            let name = Scratch.name("ns")
            try Shell.run(["ip", "netns", "add", name])
            names.append(name)
        }
        try await body(names)
    }

    /// One namespace with an up bridge "br0" and an up vxlan "vx0" (VNI 5000, local 10.9.0.1,
    /// enslaved to br0), and a RouteClient in it.
    public static func withOverlay(_ body: (String, RouteClient) async throws -> Void) async throws {
        try await withNamespaces(1) { names in
            let client = try await RouteClient.open(.named(names[0]))
            try await client.createLink(LinkSpec(name: "br0", kind: .bridge, up: true))
            try await client.createLink(
                LinkSpec(
                    name: "vx0", kind: .vxlan(VXLANOptions(vni: 5000, local: IPAddress("10.9.0.1"))),
                    master: "br0", up: true))
            try await body(names[0], client)
        }
    }
}
