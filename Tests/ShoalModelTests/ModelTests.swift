import Foundation
import Testing

@testable import ShoalModel

@Suite struct ModelTests {
    @Test func allocatableRangeLeavesOutNetworkBroadcastAndUsesTheIPRange() throws {
        let network = Network(
            id: "n", name: "n", vni: 4097, subnet: try #require(CIDR("10.0.5.0/24")),
            gateway: try #require(IPv4Address("10.0.5.1")))
        let range = try #require(network.allocatableRange)
        #expect(IPv4Address(range.lowerBound).description == "10.0.5.1")
        #expect(IPv4Address(range.upperBound).description == "10.0.5.254")
        var limited = network
        limited.ipRange = CIDR("10.0.5.128/25")
        let sub = try #require(limited.allocatableRange)
        #expect(IPv4Address(sub.lowerBound).description == "10.0.5.128")
        #expect(IPv4Address(sub.upperBound).description == "10.0.5.254")
    }

    @Test func portsDefaultToTCPIngressAndRefuseOutOfRangeNumbers() throws {
        let port = try JSONDecoder().decode(PortConfig.self, from: Data(#"{"target":80}"#.utf8))
        #expect(port == PortConfig(protocol: .tcp, target: 80, published: nil, publishMode: .ingress))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PortConfig.self, from: Data(#"{"target":65536}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PortConfig.self, from: Data(#"{"target":80,"published":0}"#.utf8))
        }
        let policy = try JSONDecoder().decode(UpdatePolicy.self, from: Data(#"{"order":"start-first"}"#.utf8))
        #expect(policy == UpdatePolicy(parallelism: 1, delaySeconds: 0, order: .startFirst))
    }

    @Test func feedObjectsEncodeFlatWithKindAndDecodeBack() throws {
        let network = FeedObject.network(
            FeedNetwork(
                id: "n1", name: "web-net", vni: 4097, subnet: try #require(CIDR("10.0.1.0/24")),
                gateway: try #require(IPv4Address("10.0.1.1")), mtu: 1450, internal: false, ingress: false,
                loadBalancerIP: IPv4Address("10.0.1.4")))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(network), as: UTF8.self)
        #expect(
            text
                == #"{"gateway":"10.0.1.1","id":"n1","ingress":false,"internal":false,"kind":"network","loadBalancerIP":"10.0.1.4","mtu":1450,"name":"web-net","subnet":"10.0.1.0/24","vni":4097}"#
        )
        #expect(try JSONDecoder().decode(FeedObject.self, from: Data(text.utf8)) == network)
        #expect(network.key == "network/n1")
    }

    @Test func diffAndApplyRoundTrip() throws {
        func lb(_ node: String, _ last: UInt8) throws -> FeedObject {
            let address = IPv4Address(0x0A00_0100 | UInt32(last))
            return .loadBalancer(
                FeedLoadBalancer(
                    networkID: "n", nodeID: node, nodeAddress: try #require(IPv4Address("192.168.0.1")),
                    address: address, mac: MACAddress(derivedFrom: address)))
        }
        let old = Dictionary(uniqueKeysWithValues: try [lb("a", 2), lb("b", 3)].map { ($0.key, $0) })
        let new = Dictionary(uniqueKeysWithValues: try [lb("b", 4), lb("c", 5)].map { ($0.key, $0) })
        let changes = feedDiff(from: old, to: new)
        #expect(changes.map(\.op) == [.remove, .upsert, .upsert])
        #expect(changes[0].key == "lb/n/a")
        var view = FeedView()
        #expect(view.apply(.complete(revision: 1, objects: Array(old.values))) == .applied)
        #expect(view.apply(.incremental(from: 1, to: 4, changes: changes)) == .applied)
        #expect(view.objects == new)
        #expect(view.revision == 4)
        #expect(view.apply(.keepalive(revision: 4)) == .keepalive)
        #expect(feedDiff(from: new, to: new).isEmpty)
    }

    @Test func taskStatesOrderAndTerminality() {
        #expect(TaskState.running.rank > TaskState.starting.rank)
        #expect(TaskState.allCases.filter(\.isTerminal) == [.complete, .failed, .shutdown, .rejected])
    }
}
