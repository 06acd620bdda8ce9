import Foundation
import ShoalDNS
import ShoalModel

/// `shoal-dns table-bench [ENDPOINTS] [RUNS]`: how long a whole record table rebuild takes for a
/// node's view of ENDPOINTS endpoints (one network, one service per 10 endpoints with a VIP, a named
/// port and an alias, 100 local tasks), the median and the worst of RUNS builds. The agent rebuilds
/// on each feed change (coalesced); this says whether that needs to become incremental.
enum TableBench {
    static func view(endpoints: Int) -> [FeedObject] {
        let base: UInt32 = 0x0a00_0000  // 10.0.0.0/8: room for any count
        let subnet = CIDR(network: IPv4Address(base), clampedPrefix: 8)
        var view: [FeedObject] = [
            .network(
                FeedNetwork(
                    id: "net", name: "net", vni: 4097, subnet: subnet, gateway: IPv4Address(base + 1),
                    mtu: 1450,
                    internal: false, ingress: false, loadBalancerIP: nil))
        ]
        let services = max(1, endpoints / 10)
        for index in 0..<services {
            view.append(
                .service(
                    FeedService(
                        networkID: "net", serviceID: "s\(index)", serviceName: "svc\(index)",
                        aliases: ["a\(index)"],
                        endpointMode: .vip, virtualIP: IPv4Address(base + 2 + UInt32(index)), ports: [],
                        exposed: [ExposedPort(name: "http", target: 80)])))
        }
        for index in 0..<endpoints {
            let address = IPv4Address(base + 0x10_0000 + UInt32(index))
            view.append(
                .endpoint(
                    FeedEndpoint(
                        networkID: "net", taskID: "t\(index)", taskName: "svc\(index % services).\(index)",
                        serviceID: "s\(index % services)", serviceName: "svc\(index % services)", aliases: [],
                        address: address, mac: MACAddress(derivedFrom: address), nodeID: "n\(index % 100)",
                        nodeAddress: IPv4Address(0xc000_0200 + UInt32(index % 100)), state: .up)))
        }
        for index in 0..<min(100, endpoints) {
            view.append(
                .task(
                    FeedTask(
                        id: "t\(index)", name: "svc\(index % services).\(index)",
                        serviceID: "s\(index % services)",
                        serviceName: "svc\(index % services)", slot: index, desiredState: .running,
                        spec: TaskSpec(command: ["sleep"]),
                        endpoints: [TaskEndpoint(networkID: "net", networkName: "net")])))
        }
        return view
    }

    static func run(endpoints: Int, runs: Int) {
        let view = view(endpoints: endpoints)
        let store = DNSRecordStore()
        let rebuild = median(runs) { store.replace(view: view) }
        // One more endpoint, then without it again: what the agent does for a scale up and down,
        // with the changed key from the feed's INCREMENTAL, as `TaskDNS` calls it.
        let keyed = Dictionary(uniqueKeysWithValues: view.map { ($0.key, $0) })
        let address = IPv4Address(0x0aff_0001)
        let extra = FeedObject.endpoint(
            FeedEndpoint(
                networkID: "net", taskID: "extra", taskName: "svc0.extra", serviceID: "s0",
                serviceName: "svc0",
                aliases: [], address: address, mac: MACAddress(derivedFrom: address), nodeID: "n1",
                nodeAddress: IPv4Address(0xc000_0201), state: .up))
        var grown = keyed
        grown[extra.key] = extra
        store.follow(from: [:], to: keyed)
        var up = true
        let change = median(runs) {
            store.follow(from: up ? keyed : grown, to: up ? grown : keyed, changed: [extra.key])
            up.toggle()
        }
        say(
            "table-bench: \(endpoints) endpoints, \(view.count) objects, \(store.current.nameCount) names: "
                + String(
                    format:
                        "whole rebuild median %.2f ms (max %.2f); one endpoint added or removed median %.3f ms (max %.3f), %d runs",
                    rebuild.median, rebuild.max, change.median, change.max, runs))
    }

    static func median(_ runs: Int, _ body: () -> Void) -> (median: Double, max: Double) {
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let started = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        }
        times.sort()
        return (times[times.count / 2], times[times.count - 1])
    }
}
