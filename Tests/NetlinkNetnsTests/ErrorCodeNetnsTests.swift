import Glibc
import Netlink
import NetlinkTestSupport
import Testing

/// Issue #8, bug 7: callers match one code space, the kernel's errno, and see its extended ack.
@Suite(.serialized) struct ErrorCodeNetnsTests {
    @Test func errorsAreKernelErrnosWithTheExtendedAck() async throws {
        try await Scratch.withNamespaces(1) { names in
            let client = try await RouteClient.open(.named(names[0]))
            // libnl answered NLE_OBJ_NOTFOUND / NLE_EXIST here; the kernel says ENODEV / EEXIST.
            await expectError({ $0.code == .errno(ENODEV) }) {
                try await client.changeLink(index: 0x7fff_fff0, LinkChange(mtu: 1400))
            }
            try await client.createLink(LinkSpec(name: "br0", kind: .bridge, up: true))
            await expectError({ $0.code == .errno(EEXIST) }) {
                try await client.createLink(LinkSpec(name: "br0", kind: .bridge))
            }
            // A gateway nothing routes to: ENETUNREACH with the kernel's own words.
            let route = Route(
                destination: try #require(IPAddress("10.8.0.0")), prefixLength: 16,
                gateway: IPAddress("192.0.2.1"))
            await expectError({ $0.code == .errno(ENETUNREACH) && $0.detail?.contains("gateway") == true }) {
                try await client.replaceRoute(route)
            }
        }
    }
}
