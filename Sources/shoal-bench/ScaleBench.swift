import Foundation
import Glibc
import Netlink

/// "Many namespaces cheaply": N namespaces (in a directory of our own), each with a RouteClient
/// that wrote a route and, where the kernel has IPVS, an IPVSClient that wrote a service; all
/// open at once. Prints the process's threads and resident memory (from /proc/self/status).
func scale() async throws {
    let count = option("--namespaces", 1000)
    let directory = NamespaceDirectory("/run/shoal-bench-\(getpid())")
    defer {
        for name in (try? directory.list()) ?? [] { try? directory.delete(name) }
        umount2(directory.path, Int32(MNT_DETACH))
        rmdir(directory.path)
    }
    // Two descriptors per namespace (a route socket and an IPVS socket): raise the soft limit
    // (often 1,024) to the hard one, as an agent serving many namespaces must.
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    print("  open file limit: \(limit.rlim_cur)")
    let before = status()
    var routes: [RouteClient] = []
    var ipvs: [IPVSClient] = []
    var ipvsMissing: NetlinkError?
    let elapsed = try await asyncSeconds {
        for i in 0..<count {
            let namespace = try await directory.create("ns\(i)")
            let client = try await RouteClient.open(namespace)
            try await client.changeLink("lo", LinkChange(up: true))
            try await client.replaceRoute(
                Route(
                    destination: .v4(10, 99, UInt8(i / 250), UInt8(i % 250)), prefixLength: 32,
                    type: .blackhole))
            routes.append(client)
            if ipvsMissing == nil {
                do {
                    let handle = try await IPVSClient.open(namespace)
                    try await handle.apply(
                        .addService(VirtualService(key: .address(.tcp, .v4(10, 96, 0, 1), port: 80))))
                    ipvs.append(handle)
                } catch let error as NetlinkError where error.isNotFound {
                    ipvsMissing = error
                }
            }
        }
    }
    // Every client still answers.
    for client in routes where try await client.routes(protocol: .shoal).count != 1 {
        throw BenchError(description: "a namespace lost its route")
    }
    for client in ipvs where try await client.services().count != 1 {
        throw BenchError(description: "a namespace lost its service")
    }
    let after = status()
    print(
        "scale: \(count) namespaces, each with a RouteClient (1 route) and \(ipvs.isEmpty ? "no IPVSClient" : "an IPVSClient (1 service)") open"
    )
    if let ipvsMissing {
        print("  IPVS not available here (\(ipvsMissing)); run in scripts/kernel-vm for IPVS")
    }
    print("  made in \(format(elapsed)) s")
    print("  threads: \(before.threads) before, \(after.threads) with all open (target < 64)")
    print(
        "  resident: \(before.residentKiB / 1024) MiB before, \(after.residentKiB / 1024) MiB with all open (target < 100 MB)"
    )
    withExtendedLifetime((routes, ipvs)) {}
}

func asyncSeconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Threads and VmRSS of this process.
func status() -> (threads: Int, residentKiB: Int) {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func value(_ key: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int(
                line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
        }
        return 0
    }
    return (value("Threads:"), value("VmRSS:"))
}
