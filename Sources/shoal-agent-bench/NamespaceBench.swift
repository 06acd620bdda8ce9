import Foundation
import ShoalAgent

/// `shoal-agent-bench namespaces [N]`: the cost of making a task's network namespace, N times each,
/// in the same run: the agent's way (Netlink's NamespaceDirectory.create, in process), the way it
/// was made before (util-linux `unshare --net=FILE true`, one helper process per namespace, as
/// `runTool` spawns it), and iproute2's `ip -batch` of `netns add` (one process for all: the anchor).
enum NamespaceBench {
    static func run(count: Int) async throws {
        let runDir = NSTemporaryDirectory() + "shoal-ns-bench-\(getpid())"
        let files = NamespaceFiles(runDirectory: runDir)
        try files.prepare()
        defer {
            for name in files.list() { try? files.delete(name) }
            umount2(files.directory, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: runDir)
        }
        let inProcess = try await timed {
            for index in 0..<count { try await files.create("p\(index)") }
        }
        let unshare = try await timed {
            for index in 0..<count {
                let file = files.path("u\(index)")
                _ = FileManager.default.createFile(atPath: file, contents: nil)
                try runTool(["unshare", "--net=" + file, "true"], what: "unshare")
            }
        }
        let names = (0..<count).map { "shb-nsbench-\(getpid())-\($0)" }
        let batch = runDir + "/netns.batch"
        try names.map { "netns add \($0)\n" }.joined().write(toFile: batch, atomically: true, encoding: .utf8)
        let iproute = try await timed { try runTool(["ip", "-batch", batch], what: "ip -batch") }
        try names.map { "netns del \($0)\n" }.joined().write(toFile: batch, atomically: true, encoding: .utf8)
        try runTool(["ip", "-batch", batch], what: "ip -batch netns del")
        func each(_ seconds: Double) -> String {
            String(format: "%.2f ms each", seconds * 1000 / Double(count))
        }
        print("namespaces: \(count) of each")
        print("agent (NamespaceDirectory.create, in process): \(each(inProcess))")
        print("before (unshare --net=FILE per namespace): \(each(unshare))")
        print("iproute2 anchor (ip -batch netns add): \(each(iproute))")
        print(
            String(
                format: "ratio agent/anchor: %.2fx; agent/before: %.2fx", inProcess / iproute,
                inProcess / unshare))
    }

    static func timed(_ body: () async throws -> Void) async throws -> Double {
        let started = Date()
        try await body()
        return Date().timeIntervalSince(started)
    }
}
