import Glibc
import Netlink
import NetlinkTestSupport
import Testing

/// Desired values written, read back equal, and shown by `ip` / `bridge` as written.
@Suite(.serialized) struct ReconcileTypesNetnsTests {
    @Test func routesCarryShoalsProtocolScopeAndType() async throws {
        try await Scratch.withOverlay { ns, client in
            try await client.addAddress(
                Address(device: "br0", address: try #require(IPAddress("10.1.0.1")), prefixLength: 24))
            let direct = Route(
                destination: try #require(IPAddress("10.4.0.0")), prefixLength: 16, device: "br0")
            let blackhole = Route(
                destination: try #require(IPAddress("10.5.0.0")), prefixLength: 16, type: .blackhole)
            try await client.replaceRoute(direct)
            try await client.replaceRoute(blackhole)
            let ours = try Shell.ip(ns, "route", "show", "proto", "83")
            #expect(ours.contains("10.4.0.0/16 dev br0 scope link"))
            #expect(ours.contains("blackhole 10.5.0.0/16"))
            #expect(!ours.contains("10.1.0.0/24"))
            #expect(direct.scope == .link)
            #expect(blackhole.scope == .universe)
            // Read back, they equal the desired values; the kernel's connected route is not ours.
            #expect(Set(try await client.routes(protocol: .shoal)) == [direct, blackhole])
            let connected = try #require(
                try await client.routes().first { $0.destination == IPAddress("10.1.0.0") })
            #expect(connected.protocol == .kernel)
            #expect(connected.scope == .link)
        }
    }

    @Test func fdbEntriesCarryVNIPortDeviceAndAppendDestinations() async throws {
        try await Scratch.withOverlay { ns, client in
            let zero = try #require(LinkLayerAddress("00:00:00:00:00:00"))
            let first = FDBEntry(device: "vx0", mac: zero, destination: IPAddress("192.168.1.2"))
            let second = FDBEntry(device: "vx0", mac: zero, destination: IPAddress("192.168.1.3"))
            try await client.appendFDBEntry(first)
            #expect(try await client.appendFDBEntries([second]) == [nil])
            let shown = try Shell.bridge(ns, "fdb", "show", "dev", "vx0")
            #expect(shown.contains("00:00:00:00:00:00 dst 192.168.1.2 self permanent"))
            #expect(shown.contains("00:00:00:00:00:00 dst 192.168.1.3 self permanent"))

            let brIndex = try #require(try await client.link(named: "br0")?.index)
            let special = FDBEntry(
                device: "vx0", mac: try #require(LinkLayerAddress("02:42:0a:01:00:07")),
                destination: IPAddress("192.168.1.4"), vni: 77, port: 4790, remoteDeviceIndex: brIndex)
            try await client.replaceFDBEntry(special)
            #expect(
                try Shell.bridge(ns, "fdb", "show", "dev", "vx0").contains(
                    "02:42:0a:01:00:07 dst 192.168.1.4 port 4790 vni 77 via br0 self permanent"))
            let listed = try await client.fdbEntries(device: "vx0")
            #expect(listed.contains(first))
            #expect(listed.contains(second))
            #expect(listed.contains(special))

            // Deleting with a destination removes only that destination of the MAC.
            try await client.deleteFDBEntry(first)
            let after = try Shell.bridge(ns, "fdb", "show", "dev", "vx0")
            #expect(!after.contains("dst 192.168.1.2"))
            #expect(after.contains("00:00:00:00:00:00 dst 192.168.1.3"))
        }
    }

    @Test func neighbourStatesAndFlagsAreTyped() async throws {
        try await Scratch.withOverlay { ns, client in
            let router = Neighbour(
                device: "br0", address: try #require(IPAddress("fd00:1::1")),
                mac: LinkLayerAddress("02:00:00:00:00:01"), flags: .router)
            let noARP = Neighbour(
                device: "br0", address: try #require(IPAddress("10.1.0.9")),
                mac: LinkLayerAddress("02:00:00:00:00:09"), state: .noARP)
            try await client.replaceNeighbour(router)
            try await client.replaceNeighbour(noARP)
            #expect(try Shell.ip(ns, "-6", "neigh", "show", "dev", "br0").contains("router PERMANENT"))
            #expect(
                // `ip neigh` hides NOARP entries unless asked for them.
                try Shell.ip(ns, "neigh", "show", "dev", "br0", "nud", "noarp").contains(
                    "10.1.0.9 lladdr 02:00:00:00:00:09 NOARP"))
            let listed = try await client.neighbours(device: "br0")
            #expect(listed.contains(router))
            #expect(listed.contains(noARP))
        }
    }

    @Test func linksByIndexRenamePeerMACAndUpInTheTargetNamespace() async throws {
        try await Scratch.withNamespaces(2) { names in
            let (host, task) = (names[0], names[1])
            let client = try await RouteClient.open(.named(host))
            let peerMAC = try #require(LinkLayerAddress("02:42:0a:00:00:33"))
            try await client.createLink(
                LinkSpec(
                    name: "ve0", kind: .veth(peer: "eth0", peerNamespace: .named(task)), up: true,
                    peerMAC: peerMAC, peerUp: true))
            let peer = try Shell.ip(task, "link", "show", "eth0")
            #expect(peer.contains("link/ether 02:42:0a:00:00:33"))
            #expect(peer.contains(",UP"))
            let taskClient = try await RouteClient.open(.named(task))
            let eth0 = try #require(try await taskClient.link(named: "eth0"))
            let ve0 = try #require(try await client.link(named: "ve0"))
            #expect(ve0.parentIndex == eth0.index)
            #expect(ve0.linkNamespaceID != nil)
            #expect(try Shell.ip(host, "-d", "link", "show", "ve0").contains("link-netns \(task)"))

            // Rename by index (down first: the kernel refuses to rename an up link).
            try await client.changeLink(index: ve0.index, LinkChange(up: false))
            try await client.changeLink(index: ve0.index, LinkChange(name: "ve9"))
            #expect(try await client.link(index: ve0.index)?.name == "ve9")
            #expect(try Shell.ip(host, "link", "show", "ve9").contains("ve9@"))

            // Moved and brought up in one request: up applies in the target namespace.
            try await client.createLink(LinkSpec(name: "m0", kind: .veth(peer: "m1")))
            try await client.changeLink("m0", LinkChange(up: true, namespace: .named(task)))
            #expect(try Shell.ip(task, "link", "show", "m0").contains(",UP"))

            try await client.deleteLink(index: ve0.index)
            #expect(try await client.link(index: ve0.index) == nil)
            #expect(try await taskClient.link(named: "eth0") == nil)
            await expectError(\.isNotFound) { try await client.deleteLink(index: ve0.index) }
        }
    }
}
