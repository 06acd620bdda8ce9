import Foundation
import Glibc
import Netlink

/// Benchmark 1: N FDB entries on vx0 and N neighbour entries on br0, from empty, against
/// `bridge -batch` + `ip -batch`. Each run: a fresh namespace per tool (deleted before the next
/// run starts: the neighbour table is shared across namespaces), tools in alternating order,
/// Shoal's setup timed (socket open and setns), a control run with pipelining off, and every
/// entry checked afterwards (VTEP and lladdr, not only the count).
func fdbNeighbour() throws {
    let count = option("--count", 10_000)
    let runs = option("--runs", 7)
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
    // What each entry must be, whoever wrote it: VTEP and lladdr, permanent, in vx0's own table.
    // (`bridge fdb ... permanent` also sets NUD_NOARP, so whole values would differ by that bit.)
    func fdbKey(_ entry: FDBEntry) -> String {
        "\(entry.mac) dst \(entry.destination.map { "\($0)" } ?? "-") \(entry.isPermanent) \(entry.isSelf)"
    }
    func neighbourKey(_ entry: Neighbour) -> String {
        "\(entry.address) \(entry.mac.map { "\($0)" } ?? "-") \(entry.isPermanent)"
    }
    let expectedFDB = Set(fdbEntries.map(fdbKey))
    let expectedNeighbours = Set(neighbours.map(neighbourKey))

    /// Every entry is in the kernel as written, none missing, none extra.
    func check(_ ns: String, _ tool: String) throws {
        let reader = try RouteSocket(namespace: .named(ns))
        let fdb = Set(try reader.fdbEntries(device: "vx0").filter { $0.destination != nil }.map(fdbKey))
        let neigh = Set(try reader.neighbours(device: "br0").filter(\.isPermanent).map(neighbourKey))
        guard fdb == expectedFDB, neigh == expectedNeighbours else {
            throw BenchError(
                description:
                    "\(tool): entries differ: fdb \(fdb.count) (\(fdb.subtracting(expectedFDB).count) unexpected), "
                    + "neighbours \(neigh.count) (\(neigh.subtracting(expectedNeighbours).count) unexpected), want \(count)"
            )
        }
    }

    enum Tool { case shoal, control, iproute2 }
    var setup: [Double] = []
    var shoal: [Double] = []
    var control: [Double] = []
    var anchor: [Double] = []
    for round in 0..<runs {
        for tool in order([Tool.shoal, .iproute2, .control], round: round) {
            let ns = "shb\(getpid())-\(round)"
            try freshOverlay(ns)
            defer { deleteNamespace(ns) }
            switch tool {
            case .shoal, .control:
                var socket: RouteSocket?
                let opened = try seconds { socket = try RouteSocket(namespace: .named(ns)) }
                guard let socket else { throw BenchError(description: "no socket") }
                var failures: [NetlinkError] = []
                // The control sends one request and waits for its ACK: what pipelining saves.
                socket.pipelining = tool == .shoal
                let work = try seconds {
                    failures += try socket.replaceFDBEntries(fdbEntries).compactMap { $0 }
                    failures += try socket.replaceNeighbours(neighbours).compactMap { $0 }
                }
                guard failures.isEmpty else {
                    throw BenchError(description: "shoal batch had failures: \(failures.prefix(3))")
                }
                if tool == .shoal {
                    setup.append(opened)
                    shoal.append(opened + work)
                } else {
                    control.append(opened + work)
                }
            case .iproute2:
                anchor.append(
                    try seconds {
                        try run(["bridge", "-netns", ns, "-batch", fdbFile])
                        try run(["ip", "-n", ns, "-batch", neighFile])
                    })
            }
            try check(ns, "\(tool)")
        }
    }
    let exec = try netnsExecCost(runs: runs)
    print(
        "benchmark 1: \(count) FDB + \(count) neighbour entries on one vxlan/bridge, from empty, \(runs) runs"
    )
    report("iproute2 (bridge -batch + ip -batch, process start included)", anchor)
    report("shoal pipelined, setup included", shoal, anchor: anchor)
    report("  of which setup (socket open, setns)", setup)
    report("shoal, pipelining off (one request, one ACK), setup included", control, anchor: anchor)
    report("ip netns exec NS true (measured separately)", exec)
}
