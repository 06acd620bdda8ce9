import ShoalAgent
import ShoalModel

/// A small cluster view for node "n1": network "blue" with local task t1 and remote tasks on
/// n2 and n3, network "red" with only remote tasks, and n2's load balancer on blue.
enum Fixture {
    static let config = OverlayConfig(local: ip("172.29.0.11"), port: 4789)

    static func ip(_ text: String) -> IPv4Address {
        IPv4Address(text) ?? IPv4Address(0)
    }

    static func mac(_ last: UInt8) -> MACAddress {
        MACAddress(bytes: [0x02, 0x42, 10, 0, 0, last]) ?? MACAddress(derivedFrom: ip("10.0.0.1"))
    }

    static func network(_ id: String, vni: UInt32) -> FeedObject {
        .network(
            FeedNetwork(
                id: id, name: id, vni: vni,
                subnet: CIDR(network: ip("10.0.\(vni - 4096).0"), clampedPrefix: 24),
                gateway: ip("10.0.\(vni - 4096).1"),
                mtu: 1450, internal: false, ingress: false, loadBalancerIP: nil))
    }

    static func task(
        _ id: String, network: String, address: String, mac last: UInt8, state: DesiredState = .running
    )
        -> FeedObject
    {
        .task(
            FeedTask(
                id: id, name: "web.1.\(id)", serviceID: "s1", serviceName: "web", slot: 1,
                desiredState: state,
                spec: TaskSpec(command: ["sleep", "1000"]),
                endpoints: [
                    TaskEndpoint(
                        networkID: network, networkName: network, address: ip(address), mac: mac(last))
                ]))
    }

    static func endpoint(
        _ task: String, network: String, address: String, mac last: UInt8, node: String, vtep: String
    )
        -> FeedObject
    {
        .endpoint(
            FeedEndpoint(
                networkID: network, taskID: task, taskName: "web.x.\(task)", serviceID: "s1",
                serviceName: "web",
                aliases: [], address: ip(address), mac: mac(last), nodeID: node, nodeAddress: ip(vtep),
                state: .up))
    }

    static var view: [String: FeedObject] {
        let objects: [FeedObject] = [
            network("blue", vni: 4097), network("red", vni: 4098),
            task("t1", network: "blue", address: "10.0.1.2", mac: 2),
            endpoint("t1", network: "blue", address: "10.0.1.2", mac: 2, node: "n1", vtep: "172.29.0.11"),
            endpoint("t2", network: "blue", address: "10.0.1.3", mac: 3, node: "n2", vtep: "172.29.0.12"),
            endpoint("t3", network: "blue", address: "10.0.1.4", mac: 4, node: "n3", vtep: "172.29.0.13"),
            endpoint("t9", network: "red", address: "10.0.2.9", mac: 9, node: "n2", vtep: "172.29.0.12"),
            .loadBalancer(
                FeedLoadBalancer(
                    networkID: "blue", nodeID: "n2", nodeAddress: ip("172.29.0.12"),
                    address: ip("10.0.1.250"),
                    mac: mac(250))),
        ]
        return Dictionary(uniqueKeysWithValues: objects.map { ($0.key, $0) })
    }
}
