import Foundation
import ShoalAgent
import ShoalModel

// The agent's data plane with many remote endpoints: programs N peers (FDB + neighbour) on one
// overlay network through the real kernel, then prints the time, what the kernel holds (read back
// by a dump), and the process's resident memory. The anchor for the time is iproute2: the same N
// FDB and N neighbour entries with `bridge -batch` and `ip -batch` on a vxlan device in a fresh
// namespace. Run it as root inside a throwaway network namespace (scripts/bench/agent-rss.sh).

func residentMB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kilobytes / 1024
}

func shell(_ command: String) -> Int32 {
    (try? runTool(["sh", "-c", command], what: command)) == nil ? 1 : 0
}

func ip(_ value: UInt32) -> IPv4Address { IPv4Address(value) }

if CommandLine.arguments.dropFirst().first == "namespaces" {
    try await NamespaceBench.run(
        count: CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 100 : 100)
    exit(0)
}
let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 10_000 : 10_000
let runDir = NSTemporaryDirectory() + "shoal-agent-bench-\(getpid())"
let files = NamespaceFiles(runDirectory: runDir)
try files.prepare()
let config = OverlayConfig(local: ip(0xc000_0201))  // 192.0.2.1
let subnet = CIDR(network: ip(0x0a40_0000), clampedPrefix: 16)  // 10.64.0.0/16
var objects: [FeedObject] = [
    .network(
        FeedNetwork(
            id: "bench", name: "bench", vni: 4200, subnet: subnet, gateway: ip(subnet.network.value + 1),
            mtu: 1450,
            internal: true, ingress: false, loadBalancerIP: nil)),
    .task(
        FeedTask(
            id: "local", name: "bench.1.local", serviceID: "s", serviceName: "bench", slot: 1,
            desiredState: .shutdown,
            spec: TaskSpec(command: ["true"]),
            endpoints: [
                TaskEndpoint(
                    networkID: "bench", networkName: "bench", address: ip(subnet.network.value + 2),
                    mac: MACAddress(derivedFrom: ip(subnet.network.value + 2)))
            ])),
]
for index in 0..<count {
    let address = ip(subnet.network.value + 10 + UInt32(index))
    objects.append(
        .endpoint(
            FeedEndpoint(
                networkID: "bench", taskID: "t\(index)", taskName: "bench.\(index).t\(index)", serviceID: "s",
                serviceName: "bench", aliases: [], address: address, mac: MACAddress(derivedFrom: address),
                nodeID: "n\(index % 100)", nodeAddress: ip(0xc000_0200 + 10 + UInt32(index % 100)), state: .up
            )))
}
let view = Dictionary(uniqueKeysWithValues: objects.map { ($0.key, $0) })
let supervisor = TaskSupervisor(
    dataDir: runDir + "/data", namespaces: files, settings: .init(), report: { _, _, _ in })
let kernel = NetlinkOverlayKernel(files: files, config: config)
let plane = DataPlane(nodeID: "me", kernel: kernel, supervisor: supervisor, config: config)
let before = residentMB()
// The task is told to stop, so no process starts; its (live) id keeps the network in place.
let started = Date()
await plane.update(view: view, revision: 1)
_ = await plane.reconcileKeeping(["local"])
let elapsed = Date().timeIntervalSince(started)
let after = residentMB()
let dumped = try await kernel.dump()
let fdb = dumped.networks["bench"]?.fdb.count ?? 0
let neighbours = dumped.networks["bench"]?.neighbours.count ?? 0

// Anchor: iproute2 batches of the same entries on a vxlan device in a fresh namespace.
let anchorNS = "shb-agent-\(getpid())"
var fdbBatch = ""
var neighBatch = ""
for case .endpoint(let endpoint) in objects {
    fdbBatch += "fdb replace \(endpoint.mac) dev vx0 dst \(endpoint.nodeAddress) self permanent\n"
    neighBatch += "neigh replace \(endpoint.address) lladdr \(endpoint.mac) dev vx0 nud permanent\n"
}
try fdbBatch.write(toFile: runDir + "/fdb.batch", atomically: true, encoding: .utf8)
try neighBatch.write(toFile: runDir + "/neigh.batch", atomically: true, encoding: .utf8)
_ = shell(
    "ip netns add \(anchorNS) && ip -n \(anchorNS) link add br0 type bridge && ip -n \(anchorNS) link add vx0 type vxlan id 4200 dstport 4789 local 192.0.2.1 nolearning proxy && ip -n \(anchorNS) link set vx0 master br0 up && ip -n \(anchorNS) link set br0 up"
)
let anchorStart = Date()
let anchorStatus =
    shell(
        "bridge -netns \(anchorNS) -batch \(runDir)/fdb.batch && ip -n \(anchorNS) -batch \(runDir)/neigh.batch"
    )
let anchorElapsed = Date().timeIntervalSince(anchorStart)
_ = shell("ip netns del \(anchorNS)")

await plane.update(view: [:], revision: 2)
_ = await plane.reconcile()
try? FileManager.default.removeItem(atPath: runDir)

print(
    "endpoints: \(count); kernel after the agent: \(fdb) FDB entries, \(neighbours) neighbour entries on vx0")
print(String(format: "agent data plane: %.3f s to program (desired state, plan, pipelined apply)", elapsed))
print(
    String(
        format: "iproute2 anchor: %.3f s (bridge -batch + ip -batch, exit %d)", anchorElapsed, anchorStatus))
print(String(format: "ratio: %.2fx", elapsed / anchorElapsed))
print(
    String(
        format: "resident memory: %.1f MB before the view, %.1f MB with %d endpoints programmed", before,
        after, count))
