// Benchmarks for the Netlink module against the iproute2 / ipvsadm anchors, run in the same
// process on the same entries, each from empty in a fresh namespace. Prints medians and ratios.
//
//   shoal-bench fdb-neigh [--count 10000] [--runs 5]     (root; this host)
//   shoal-bench ipvs [--services 2000] [--dests 10] [--runs 3]   (root; inside scripts/kernel-vm)
import Foundation
import Glibc
import Netlink

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count,
        let value = Int(arguments[at + 1])
    else { return fallback }
    return value
}

/// Runs a command, stdin from a file when given; fails on a non-zero exit.
@discardableResult
func run(_ arguments: [String], stdin: String? = nil, discardOutput: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let stdin { process.standardInput = FileHandle(forReadingAtPath: stdin) }
    let output = Pipe()
    process.standardOutput = discardOutput ? FileHandle.nullDevice : output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw BenchError(description: "\(arguments.joined(separator: " ")) failed: \(text.prefix(500))")
    }
    return text
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func format(_ value: Double) -> String { String(format: "%.4f", value) }

func report(_ name: String, shoal: [Double], anchor: [Double], anchorName: String) {
    let ratio = median(shoal) / median(anchor)
    print(
        "\(name): shoal median \(format(median(shoal))) s, \(anchorName) median \(format(median(anchor))) s, "
            + "ratio \(String(format: "%.3f", ratio))x  (shoal runs \(shoal.map(format)), "
            + "\(anchorName) runs \(anchor.map(format)))")
}

/// A fresh namespace with br0 and vx0 (VNI 4096, dstport 4789, learning off) made by iproute2.
func freshOverlay(_ name: String) throws {
    try run(["ip", "netns", "add", name])
    try run(["ip", "-n", name, "link", "set", "lo", "up"])
    try run(["ip", "-n", name, "link", "add", "br0", "type", "bridge"])
    try run([
        "ip", "-n", name, "link", "add", "vx0", "type", "vxlan", "id", "4096", "dstport", "4789", "local",
        "10.200.0.1", "nolearning",
    ])
    try run(["ip", "-n", name, "link", "set", "vx0", "master", "br0", "up"])
    try run(["ip", "-n", name, "link", "set", "br0", "up"])
    try run(["ip", "-n", name, "addr", "add", "10.0.0.254/8", "dev", "br0"])
}

func deleteNamespace(_ name: String) {
    _ = try? run(["ip", "netns", "delete", name])
}

func fdbNeighbour() throws {
    let count = option("--count", 10_000)
    let runs = option("--runs", 5)
    var fdbEntries: [FDBEntry] = []
    var neighbours: [Neighbour] = []
    var fdbBatch = ""
    var neighBatch = ""
    for i in 0..<count {
        let mac = LinkLayerAddress(bytes: [
            0x02, 0x42, 0x0a, UInt8(i >> 16), UInt8((i >> 8) & 0xff), UInt8(i & 0xff),
        ])
        guard let mac else { throw BenchError(description: "mac") }
        let vtep = IPAddress.v4(192, 168, UInt8(1 + (i / 250) % 250), UInt8(1 + i % 250))
        let ip = IPAddress.v4(10, UInt8(1 + i >> 16), UInt8((i >> 8) & 0xff), UInt8(i & 0xff))
        fdbEntries.append(FDBEntry(device: "vx0", mac: mac, destination: vtep))
        neighbours.append(Neighbour(device: "br0", address: ip, mac: mac))
        fdbBatch += "fdb replace \(mac) dev vx0 dst \(vtep) self permanent\n"
        neighBatch += "neigh replace \(ip) lladdr \(mac) dev br0 nud permanent\n"
    }
    let fdbFile = "/tmp/shoal-bench-\(getpid())-fdb.batch"
    let neighFile = "/tmp/shoal-bench-\(getpid())-neigh.batch"
    try fdbBatch.write(toFile: fdbFile, atomically: true, encoding: .utf8)
    try neighBatch.write(toFile: neighFile, atomically: true, encoding: .utf8)
    defer {
        unlink(fdbFile)
        unlink(neighFile)
    }

    var shoalFDB: [Double] = []
    var shoalNeigh: [Double] = []
    var bridgeTimes: [Double] = []
    var ipTimes: [Double] = []
    for round in 0..<runs {
        // Shoal, from empty.
        let shoalNS = "shb\(getpid())-s\(round)"
        try freshOverlay(shoalNS)
        defer { deleteNamespace(shoalNS) }
        let socket = try RouteSocket(namespace: .named(shoalNS))
        var fdbResults: [NetlinkError?] = []
        var neighResults: [NetlinkError?] = []
        shoalFDB.append(try seconds { fdbResults = try socket.replaceFDBEntries(fdbEntries) })
        shoalNeigh.append(try seconds { neighResults = try socket.replaceNeighbours(neighbours) })
        guard fdbResults.allSatisfy({ $0 == nil }), neighResults.allSatisfy({ $0 == nil }) else {
            throw BenchError(
                description: "shoal batch had failures: \(fdbResults.compactMap { $0 }.prefix(3))")
        }
        let shoalFDBCount = try socket.fdbEntries(device: "vx0").filter { $0.destination != nil }.count
        let shoalNeighCount = try socket.neighbours(device: "br0").filter(\.isPermanent).count

        // iproute2, from empty, same entries.
        let anchorNS = "shb\(getpid())-a\(round)"
        try freshOverlay(anchorNS)
        defer { deleteNamespace(anchorNS) }
        bridgeTimes.append(try seconds { try run(["bridge", "-netns", anchorNS, "-batch", fdbFile]) })
        ipTimes.append(try seconds { try run(["ip", "-n", anchorNS, "-batch", neighFile]) })
        let check = try RouteSocket(namespace: .named(anchorNS))
        let anchorFDBCount = try check.fdbEntries(device: "vx0").filter { $0.destination != nil }.count
        let anchorNeighCount = try check.neighbours(device: "br0").filter(\.isPermanent).count
        guard shoalFDBCount == count, shoalNeighCount == count, anchorFDBCount == count,
            anchorNeighCount == count
        else {
            throw BenchError(
                description:
                    "entry counts differ: shoal fdb \(shoalFDBCount) neigh \(shoalNeighCount), "
                    + "iproute2 fdb \(anchorFDBCount) neigh \(anchorNeighCount), want \(count)")
        }
    }
    print(
        "benchmark 1: \(count) FDB entries and \(count) neighbour entries on one vxlan/bridge, from empty, \(runs) runs"
    )
    report("fdb (vx0)", shoal: shoalFDB, anchor: bridgeTimes, anchorName: "bridge -batch")
    report("neigh (br0)", shoal: shoalNeigh, anchor: ipTimes, anchorName: "ip -batch")
    let shoalTotal = zip(shoalFDB, shoalNeigh).map { $0 + $1 }
    let anchorTotal = zip(bridgeTimes, ipTimes).map { $0 + $1 }
    report("both", shoal: shoalTotal, anchor: anchorTotal, anchorName: "iproute2")
}

func ipvs() throws {
    let services = option("--services", 2000)
    let destinations = option("--dests", 10)
    let runs = option("--runs", 3)
    var requests: [IPVSRequest] = []
    var rules = ""
    for s in 0..<services {
        let vip = IPAddress.v4(10, 10, UInt8(s / 250), UInt8(1 + s % 250))
        let key = ServiceKey.address(.tcp, vip, port: 80)
        requests.append(.addService(VirtualService(key: key, scheduler: "rr")))
        rules += "-A -t \(vip):80 -s rr\n"
        for d in 0..<destinations {
            let real = IPAddress.v4(10, 20, UInt8(s / 250), UInt8(1 + (s % 250 + d) % 250))
            let port = UInt16(8000 + d)
            requests.append(
                .addDestination(key, Destination(address: real, port: port, forwarding: .masquerade)))
            rules += "-a -t \(vip):80 -r \(real):\(port) -m -w 1\n"
        }
    }
    let rulesFile = "/tmp/shoal-bench-\(getpid())-ipvs.rules"
    try rules.write(toFile: rulesFile, atomically: true, encoding: .utf8)
    defer { unlink(rulesFile) }

    var shoalWrite: [Double] = []
    var anchorWrite: [Double] = []
    var shoalRead: [Double] = []
    var anchorRead: [Double] = []
    for round in 0..<runs {
        let shoalNS = "shb\(getpid())-s\(round)"
        try freshOverlay(shoalNS)
        defer { deleteNamespace(shoalNS) }
        let socket = try IPVSSocket(namespace: .named(shoalNS))
        var results: [NetlinkError?] = []
        shoalWrite.append(seconds { results = socket.apply(batch: requests) })
        guard results.allSatisfy({ $0 == nil }) else {
            throw BenchError(description: "shoal batch had failures: \(results.compactMap { $0 }.prefix(3))")
        }

        let anchorNS = "shb\(getpid())-a\(round)"
        try freshOverlay(anchorNS)
        defer { deleteNamespace(anchorNS) }
        anchorWrite.append(
            try seconds { try run(["ip", "netns", "exec", anchorNS, "ipvsadm", "-R"], stdin: rulesFile) })

        // Reading back the full state, from the ipvsadm-written namespace for both.
        let reader = try IPVSSocket(namespace: .named(anchorNS))
        var state: [(service: VirtualService, destinations: [Destination])] = []
        shoalRead.append(try seconds { state = try reader.state() })
        var saved = ""
        anchorRead.append(
            try seconds { saved = try run(["ip", "netns", "exec", anchorNS, "ipvsadm", "-Sn"]) })
        let readDestinations = state.reduce(0) { $0 + $1.destinations.count }
        let savedServices = saved.split(separator: "\n").filter { $0.hasPrefix("-A") }.count
        let savedDestinations = saved.split(separator: "\n").filter { $0.hasPrefix("-a") }.count
        let written = try socket.state()
        let writtenDestinations = written.reduce(0) { $0 + $1.destinations.count }
        guard state.count == services, readDestinations == services * destinations, savedServices == services,
            savedDestinations == services * destinations, written.count == services,
            writtenDestinations == services * destinations
        else {
            throw BenchError(
                description:
                    "counts differ: shoal wrote \(written.count)/\(writtenDestinations), read \(state.count)/"
                    + "\(readDestinations), ipvsadm -Sn \(savedServices)/\(savedDestinations)")
        }
    }
    print(
        "benchmark 2: \(services) virtual services x \(destinations) destinations, from empty, \(runs) runs")
    report("write", shoal: shoalWrite, anchor: anchorWrite, anchorName: "ipvsadm -R")
    print("benchmark 3: read back \(services) services and \(services * destinations) destinations")
    report("read", shoal: shoalRead, anchor: anchorRead, anchorName: "ipvsadm -Sn")
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "fdb-neigh": try fdbNeighbour()
    case "ipvs": try ipvs()
    default:
        print(
            "usage: shoal-bench fdb-neigh [--count N] [--runs R] | ipvs [--services N] [--dests D] [--runs R]"
        )
        exit(2)
    }
} catch {
    print("shoal-bench: \(error)")
    exit(1)
}
