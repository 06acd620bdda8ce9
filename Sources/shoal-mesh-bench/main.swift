import Foundation
import ShoalAgent
import ShoalModel

// The mesh on one node: S VIP services with D tasks each synced from empty into a network
// namespace (VIP addresses, the nft table, S firewall-mark IPVS services, S x D destinations),
// against `ipvsadm -R` of the same IPVS rules in a fresh namespace, in the same run. Then, with
// all of them present, one task added and one removed: the netlink requests and nft transactions
// that cost, and the time. Needs IPVS: scripts/bench/mesh-sync.sh runs it in the kernel VM.
//   shoal-mesh-bench [SERVICES [TASKS]]

func ip(_ value: UInt32) -> IPv4Address { IPv4Address(value) }

func shell(_ command: String) -> Int32 {
    (try? runTool(["sh", "-c", command], what: command)) == nil ? 1 : 0
}

func seconds(since start: Date) -> Double { Date().timeIntervalSince(start) }

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let services = arguments.first ?? 2000
let tasks = arguments.dropFirst().first ?? 10
let runDir = NSTemporaryDirectory() + "shoal-mesh-bench-\(getpid())"
let files = NamespaceFiles(runDirectory: runDir)
try files.prepare()
let config = OverlayConfig(local: ip(0xc000_0201))  // 192.0.2.1
let subnet = CIDR(network: ip(0x0a40_0000), clampedPrefix: 16)  // 10.64.0.0/16
let network = FeedNetwork(
    id: "bench", name: "bench", vni: 4200, subnet: subnet, gateway: ip(subnet.network.value + 1), mtu: 1450,
    internal: true, ingress: false, loadBalancerIP: ip(subnet.network.value + 2))
let local = FeedTask(
    id: "local", name: "bench.1.local", serviceID: "s", serviceName: "bench", slot: 1,
    desiredState: .shutdown,
    spec: TaskSpec(command: ["true"]),
    endpoints: [
        TaskEndpoint(
            networkID: "bench", networkName: "bench", address: ip(subnet.network.value + 3),
            mac: MACAddress(derivedFrom: ip(subnet.network.value + 3)))
    ])

/// Service i: VIP 10.64.0.10 + i; its task j: 10.64.32.0 + i * TASKS + j.
func vip(_ index: Int) -> IPv4Address { ip(subnet.network.value + 10 + UInt32(index)) }
func taskAddress(_ service: Int, _ task: Int) -> IPv4Address {
    ip(subnet.network.value + 0x2000 + UInt32(service * tasks + task))
}
func endpoint(_ service: Int, _ address: IPv4Address) -> FeedObject {
    .endpoint(
        FeedEndpoint(
            networkID: "bench", taskID: "t\(address.value)", taskName: "svc\(service).x",
            serviceID: "svc\(service)",
            serviceName: "svc\(service)", aliases: [], address: address,
            mac: MACAddress(derivedFrom: address),
            nodeID: "n2", nodeAddress: ip(0xc000_0202), state: .up))
}

var objects: [FeedObject] = [.network(network), .task(local)]
let overlayView = Dictionary(uniqueKeysWithValues: objects.map { ($0.key, $0) })
for index in 0..<services {
    objects.append(
        .service(
            FeedService(
                networkID: "bench", serviceID: "svc\(index)", serviceName: "svc\(index)", aliases: [],
                endpointMode: .vip, virtualIP: vip(index), ports: [])))
    for task in 0..<tasks { objects.append(endpoint(index, taskAddress(index, task))) }
}
var view = Dictionary(uniqueKeysWithValues: objects.map { ($0.key, $0) })

// Planning and bookkeeping alone: the same sync against the in-memory kernel.
var started = Date()
_ = await MeshReconciler(kernel: FakeMeshKernel(), graceSeconds: 0).reconcile(
    view: view, networks: ["bench"], resync: true, now: 0)
let planTime = seconds(since: started)

// The network's namespace with br0, as the overlay makes it (not timed).
let supervisor = TaskSupervisor(
    dataDir: runDir + "/data", namespaces: files, settings: .init(), report: { _, _, _ in })
let plane = DataPlane(
    nodeID: "me", kernel: NetlinkOverlayKernel(files: files, config: config), supervisor: supervisor,
    config: config)
await plane.update(view: overlayView, revision: 1)
_ = await plane.reconcileKeeping(["local"])

let kernel = NetlinkMeshKernel(files: files)
let mesh = MeshReconciler(kernel: kernel, graceSeconds: 0)
started = Date()
let sync = await mesh.reconcile(view: view, networks: ["bench"], resync: true, now: 0)
let syncTime = seconds(since: started)
let syncCounts = await mesh.snapshot.counts
let dumped = try await kernel.dump(networks: ["bench"])
let programmed = dumped.balancers["bench"]?.services.values.reduce(0) { $0 + $1.destinations.count } ?? 0

// Changes with all of them present, each its own pass told the keys that changed: one task added
// to service 2k and one removed from service 2k+1 (grace 0: deleted at once, no drain to wait for).
let rounds = 7
var changeTimes: [Double] = []
var changeCounts: [MeshCounts] = []
var changeOps: [Int] = []
var changeErrors = 0
for round in 0..<rounds {
    let added = ip(subnet.network.value + 0x1000 + UInt32(round))
    let addedKey = "endpoint/bench/t\(added.value)"
    let removedKey = "endpoint/bench/t\(taskAddress(2 * round + 1, 0).value)"
    view[addedKey] = endpoint(2 * round, added)
    view[removedKey] = nil
    let before = await mesh.snapshot.counts
    started = Date()
    let change = await mesh.reconcile(
        view: view, changed: [addedKey, removedKey], networks: ["bench"], resync: false,
        now: Double(1 + round))
    changeTimes.append(seconds(since: started))
    let after = await mesh.snapshot.counts
    var delta = MeshCounts()
    delta.netlinkRequests = after.netlinkRequests - before.netlinkRequests
    delta.nftTransactions = after.nftTransactions - before.nftTransactions
    changeCounts.append(delta)
    changeOps.append(change.ops.count)
    changeErrors += change.errors.count
}
started = Date()
let idle = await mesh.reconcile(view: view, changed: [], networks: ["bench"], resync: false, now: 100)
let idleTime = seconds(since: started)
let afterChanges = try await kernel.dump(networks: ["bench"])
let programmedAfter =
    afterChanges.balancers["bench"]?.services.values.reduce(0) { $0 + $1.destinations.count } ?? 0

// Anchor: the same IPVS rules with `ipvsadm -R` into a fresh namespace (lo up: IPVS needs a local table).
let anchorNS = "shb-mesh-\(getpid())"
var rules = ""
for index in 0..<services {
    let mark = MeshNames.mark(vip: vip(index), subnet: subnet)
    rules += "-A -f \(mark) -s rr\n"
    for task in 0..<tasks { rules += "-a -f \(mark) -r \(taskAddress(index, task)) -m -w 1\n" }
}
try rules.write(toFile: runDir + "/rules", atomically: true, encoding: .utf8)
_ = shell("ip netns add \(anchorNS) && ip -n \(anchorNS) link set lo up")
started = Date()
let anchorStatus = shell("ip netns exec \(anchorNS) ipvsadm -R < \(runDir)/rules")
let anchorTime = seconds(since: started)
_ = shell("ip netns del \(anchorNS)")

await plane.update(view: [:], revision: 2)
_ = await plane.reconcile()
try? FileManager.default.removeItem(atPath: runDir)

print("services: \(services) x \(tasks) tasks; kernel after the sync: \(programmed) destinations")
print(
    String(
        format:
            "shoal mesh sync from empty: %.3f s (%d ops: %d netlink requests, %d nft transactions, errors %d)",
        syncTime, sync.ops.count, syncCounts.netlinkRequests, syncCounts.nftTransactions, sync.errors.count))
print(String(format: "  of which planning and bookkeeping (same sync, in-memory kernel): %.3f s", planTime))
print(String(format: "anchor ipvsadm -R of the same IPVS rules: %.3f s (exit %d)", anchorTime, anchorStatus))
print(String(format: "ratio: %.3fx", syncTime / anchorTime))
let sortedTimes = changeTimes.sorted()
print(
    String(
        format: "one task added + one removed, %d rounds: min / median / max %.4f / %.4f / %.4f s", rounds,
        sortedTimes[0], sortedTimes[rounds / 2], sortedTimes[rounds - 1]))
print(
    "  per round: ops \(changeOps), netlink requests \(changeCounts.map(\.netlinkRequests)), "
        + "nft transactions \(changeCounts.map(\.nftTransactions)), errors \(changeErrors); "
        + "kernel after: \(programmedAfter) destinations")
print(String(format: "a pass with nothing changed: %.4f s, %d ops", idleTime, idle.ops.count))
