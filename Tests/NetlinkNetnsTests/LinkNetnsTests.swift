import Glibc
import Netlink
import NetlinkTestSupport
import Testing

@Suite(.serialized) struct LinkNetnsTests {
    @Test func createsBridgeAndVXLANAsIpShowsThem() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = names[0]
            let client = try await RouteClient.open(.named(ns))
            try await client.createLink(LinkSpec(name: "br0", kind: .bridge, mtu: 1450, up: true))
            let mac = try #require(LinkLayerAddress("02:42:0a:00:00:09"))
            try await client.createLink(
                LinkSpec(
                    name: "vx0",
                    kind: .vxlan(VXLANOptions(vni: 4242, local: IPAddress("10.9.0.1"), proxy: true, ttl: 64)),
                    mtu: 1450, mac: mac, master: "br0", up: true))

            let vxlan = try Shell.ip(ns, "-d", "link", "show", "vx0")
            #expect(vxlan.contains("vxlan id 4242"))
            #expect(vxlan.contains("dstport 4789"))
            #expect(vxlan.contains("local 10.9.0.1"))
            #expect(vxlan.contains("nolearning"))
            #expect(vxlan.contains("proxy"))
            #expect(vxlan.contains("ttl 64"))
            #expect(vxlan.contains("mtu 1450"))
            #expect(vxlan.contains("master br0"))
            #expect(vxlan.contains("link/ether 02:42:0a:00:00:09"))
            #expect(try Shell.ip(ns, "-d", "link", "show", "br0").contains("bridge forward_delay"))

            let links = try await client.links()
            let vx = try #require(links.first { $0.name == "vx0" })
            #expect(vx.kind == "vxlan")
            #expect(vx.vxlan == VXLANOptions(vni: 4242, local: IPAddress("10.9.0.1"), proxy: true, ttl: 64))
            #expect(vx.master == "br0")
            #expect(vx.mtu == 1450)
            #expect(vx.mac == mac)
            #expect(vx.isUp)
            #expect(try await client.link(named: "br0")?.kind == "bridge")
            #expect(try await client.link(named: "missing0") == nil)
        }
    }

    @Test func createAgainReportsExistsAndDeleteOfMissingReportsNotFound() async throws {
        try await Scratch.withNamespaces(1) { names in
            let client = try await RouteClient.open(.named(names[0]))
            try await client.createLink(LinkSpec(name: "d0", kind: .bridge))
            do {
                try await client.createLink(LinkSpec(name: "d0", kind: .bridge))
                Issue.record("second create succeeded")
            } catch {
                #expect((error as? NetlinkError)?.isAlreadyExists == true, "\(error)")
            }
            try await client.deleteLink("d0")
            #expect(!(try Shell.ip(names[0], "link", "show")).contains("d0"))
            do {
                try await client.deleteLink("d0")
                Issue.record("delete of a missing link succeeded")
            } catch {
                #expect((error as? NetlinkError)?.isNotFound == true, "\(error)")
            }
        }
    }

    // This kernel has no dummy driver, so ports here are veth ends; dummy is covered by golden bytes.
    @Test func changesUpDownMTUMACAndMaster() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = names[0]
            let client = try await RouteClient.open(.named(ns))
            try await client.createLink(LinkSpec(name: "br0", kind: .bridge))
            try await client.createLink(LinkSpec(name: "d0", kind: .veth(peer: "d0p")))
            let mac = try #require(LinkLayerAddress("02:00:00:00:00:42"))
            try await client.changeLink(
                "d0", LinkChange(up: true, mtu: 1400, mac: mac, master: .attach("br0")))
            var shown = try Shell.ip(ns, "link", "show", "d0")
            #expect(shown.contains("mtu 1400"))
            #expect(shown.contains("master br0"))
            #expect(shown.contains("02:00:00:00:00:42"))
            #expect(shown.contains(",UP"))
            try await client.changeLink("d0", LinkChange(up: false, master: .detach))
            shown = try Shell.ip(ns, "link", "show", "d0")
            #expect(!shown.contains("master br0"))
            #expect(!shown.contains(",UP"))
        }
    }

    @Test func vethPeerGoesToAnotherNamespaceAndLinksMove() async throws {
        try await Scratch.withNamespaces(2) { names in
            let (host, task) = (names[0], names[1])
            let client = try await RouteClient.open(.named(host))
            try await client.createLink(
                LinkSpec(
                    name: "ve0", kind: .veth(peer: "eth0", peerNamespace: .named(task)), mtu: 1450, up: true))
            #expect(try Shell.ip(host, "link", "show", "ve0").contains("mtu 1450"))
            #expect(try Shell.ip(task, "link", "show", "eth0").contains("mtu 1450"))

            // A vxlan made in one namespace and moved, keeping its UDP socket behind.
            try await client.createLink(LinkSpec(name: "vx1", kind: .vxlan(VXLANOptions(vni: 4300))))
            try await client.changeLink("vx1", LinkChange(namespace: .named(task)))
            #expect(try Shell.ip(task, "-d", "link", "show", "vx1").contains("vxlan id 4300"))
            #expect(try await client.link(named: "vx1") == nil)

            // Created straight into the other namespace in one request.
            try await client.createLink(
                LinkSpec(name: "vx2", kind: .vxlan(VXLANOptions(vni: 4301)), namespace: .named(task)))
            #expect(try Shell.ip(task, "-d", "link", "show", "vx2").contains("dstport 4789"))
        }
    }

    @Test func namespacesAreCreatedAndDeletedLikeIpNetns() async throws {
        try Scratch.requireRoot()
        let before = try Shell.run(["readlink", "/proc/self/ns/net"])
        let name = Scratch.name("named")
        try await NamedNamespaces.create(name)
        defer { _ = try? Shell.run(["ip", "netns", "delete", name]) }
        #expect(try Shell.run(["ip", "netns", "list"]).contains(name))
        #expect(NamedNamespaces.list().contains(name))
        // It is a real, separate namespace: only lo, and a link made there stays there.
        let client = try await RouteClient.open(.named(name))
        try await client.createLink(LinkSpec(name: "d9", kind: .bridge))
        #expect(try Shell.ip(name, "link", "show").contains("d9"))
        #expect(!(try Shell.run(["ip", "link", "show"])).contains("d9:"))
        #expect(try Shell.run(["readlink", "/proc/self/ns/net"]) == before)
        try NamedNamespaces.delete(name)
        #expect(!(try Shell.run(["ip", "netns", "list"])).contains(name))
    }

    @Test func eventsReportLinkAddressAndNeighbourChanges() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = names[0]
            let events = try await RouteEvents.subscribe(.named(ns))
            try Shell.ip(ns, "link", "add", "d5", "type", "bridge")
            try Shell.ip(ns, "link", "set", "d5", "up")
            try Shell.ip(ns, "addr", "add", "10.5.0.1/24", "dev", "d5")
            try Shell.ip(ns, "neigh", "replace", "10.5.0.7", "lladdr", "02:00:00:00:05:07", "dev", "d5")
            try Shell.ip(ns, "link", "del", "d5")
            var sawLink = false
            var sawAddress = false
            var sawNeighbour = false
            var sawRemoval = false
            for await event in events {
                switch event {
                case .link(let link, let removed) where link.name == "d5":
                    if removed { sawRemoval = true } else { sawLink = true }
                case .address(let address, false) where address.address == IPAddress("10.5.0.1"):
                    sawAddress = address.device == "d5" && address.prefixLength == 24
                case .neighbour(let neighbour, false) where neighbour.address == IPAddress("10.5.0.7"):
                    sawNeighbour = neighbour.mac == LinkLayerAddress("02:00:00:00:05:07")
                default: break
                }
                if sawRemoval { break }
            }
            #expect(sawLink)
            #expect(sawAddress)
            #expect(sawNeighbour)
            #expect(sawRemoval)
        }
    }
}
