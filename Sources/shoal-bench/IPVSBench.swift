import Foundation
import Glibc
import Netlink

/// Benchmarks 2 and 3 (kernel VM): S services x D destinations from empty against `ipvsadm -R`,
/// and reading them back against `ipvsadm -Sn`. Fresh namespace per tool per run, deleted
/// before the next; alternating order; Shoal's setup (socket, setns, family lookup) timed; a
/// control run with pipelining off; the state checked by value after every write.
func ipvs() throws {
    let services = option("--services", 2000)
    let destinations = option("--dests", 10)
    let runs = option("--runs", 7)
    var requests: [IPVSRequest] = []
    var expected: [VirtualService: Set<Destination>] = [:]
    var rules = ""
    for s in 0..<services {
        let vip = IPAddress.v4(10, 10, UInt8(s / 250), UInt8(1 + s % 250))
        let key = ServiceKey.address(.tcp, vip, port: 80)
        let service = VirtualService(key: key, scheduler: "rr")
        requests.append(.addService(service))
        rules += "-A -t \(vip):80 -s rr\n"
        var reals: Set<Destination> = []
        for d in 0..<destinations {
            let real = IPAddress.v4(10, 20, UInt8(s / 250), UInt8(1 + (s % 250 + d) % 250))
            let port = UInt16(8000 + d)
            let destination = Destination(
                address: real, port: port, forwarding: .masquerade, weight: UInt32(1 + d % 3))
            requests.append(.addDestination(key, destination))
            reals.insert(destination)
            rules += "-a -t \(vip):80 -r \(real):\(port) -m -w \(1 + d % 3)\n"
        }
        expected[service] = reals
    }
    let rulesFile = "/tmp/shoal-bench-\(getpid())-ipvs.rules"
    try rules.write(toFile: rulesFile, atomically: true, encoding: .utf8)
    defer { unlink(rulesFile) }

    /// The kernel holds exactly the expected services (scheduler) and destinations (weight, method).
    func check(_ ns: String, _ tool: String) throws {
        let state = try IPVSSocket(namespace: .named(ns)).state()
        var found: [VirtualService: Set<Destination>] = [:]
        for entry in state { found[entry.service] = Set(entry.destinations) }
        guard found == expected else {
            throw BenchError(
                description: "\(tool): IPVS state differs: \(found.count) services, want \(expected.count)")
        }
    }

    enum Tool { case shoal, control, ipvsadm }
    var setup: [Double] = []
    var shoalWrite: [Double] = []
    var controlWrite: [Double] = []
    var anchorWrite: [Double] = []
    var shoalRead: [Double] = []
    var anchorRead: [Double] = []
    for round in 0..<runs {
        for tool in order([Tool.shoal, .ipvsadm, .control], round: round) {
            let ns = "shb\(getpid())-\(round)"
            try freshOverlay(ns)
            defer { deleteNamespace(ns) }
            switch tool {
            case .shoal, .control:
                var socket: IPVSSocket?
                let opened = try seconds { socket = try IPVSSocket(namespace: .named(ns)) }
                guard let socket else { throw BenchError(description: "no socket") }
                socket.pipelining = tool == .shoal
                var results: [NetlinkError?] = []
                let work = seconds { results = socket.apply(batch: requests) }
                guard results.allSatisfy({ $0 == nil }) else {
                    throw BenchError(
                        description: "shoal batch had failures: \(results.compactMap { $0 }.prefix(3))")
                }
                if tool == .shoal {
                    setup.append(opened)
                    shoalWrite.append(opened + work)
                } else {
                    controlWrite.append(opened + work)
                }
            case .ipvsadm:
                anchorWrite.append(
                    try seconds { try run(["ip", "netns", "exec", ns, "ipvsadm", "-R"], stdin: rulesFile) })
                // Read-back, both tools on this namespace, in alternating order; Shoal's time
                // includes opening its socket.
                for reader in order(["shoal", "ipvsadm"], round: round) {
                    if reader == "shoal" {
                        var count = 0
                        shoalRead.append(
                            try seconds { count = try IPVSSocket(namespace: .named(ns)).state().count })
                        guard count == services else {
                            throw BenchError(description: "read \(count) services")
                        }
                    } else {
                        var saved = ""
                        anchorRead.append(
                            try seconds { saved = try run(["ip", "netns", "exec", ns, "ipvsadm", "-Sn"]) })
                        let lines = saved.split(separator: "\n")
                        guard lines.filter({ $0.hasPrefix("-A") }).count == services,
                            lines.filter({ $0.hasPrefix("-a") }).count == services * destinations
                        else { throw BenchError(description: "ipvsadm -Sn printed too few rules") }
                    }
                }
            }
            try check(ns, "\(tool)")
        }
    }
    let exec = try netnsExecCost(runs: runs)
    print("benchmark 2: \(services) services x \(destinations) destinations, from empty, \(runs) runs")
    report("ipvsadm -R (under ip netns exec)", anchorWrite)
    report("shoal pipelined, setup included", shoalWrite, anchor: anchorWrite)
    report("  of which setup (socket open, setns, family lookup)", setup)
    report("shoal, pipelining off (one request, one ACK), setup included", controlWrite, anchor: anchorWrite)
    print("benchmark 3: read back \(services) services and \(services * destinations) destinations")
    report("ipvsadm -Sn (under ip netns exec)", anchorRead)
    report("shoal state(), setup included", shoalRead, anchor: anchorRead)
    report("ip netns exec NS true (measured separately)", exec)
}
