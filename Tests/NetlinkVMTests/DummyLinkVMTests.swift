import Netlink
import NetlinkTestSupport
import Testing

/// Dummy links need the `dummy` driver, which this host's kernel lacks and the VM's has.
@Suite struct DummyLinkVMTests {
    @Test func createsListsAndDeletesADummyLinkAsIpShowsIt() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = names[0]
            let client = try await RouteClient.open(.named(ns))
            let mac = try #require(LinkLayerAddress("02:42:0a:63:00:01"))
            try await client.createLink(LinkSpec(name: "dm0", kind: .dummy, mtu: 1400, mac: mac, up: true))

            let shown = try Shell.ip(ns, "-d", "link", "show", "dm0")
            #expect(shown.contains("dummy"), "\(shown)")
            #expect(shown.contains("mtu 1400"))
            #expect(shown.contains("link/ether 02:42:0a:63:00:01"))
            let link = try #require(try await client.link(named: "dm0"))
            #expect(link.kind == "dummy")
            #expect(link.mtu == 1400 && link.mac == mac)

            try await client.deleteLink("dm0")
            #expect(try await client.link(named: "dm0") == nil)
            #expect(!(try Shell.ip(ns, "link", "show")).contains("dm0"))
        }
    }
}
