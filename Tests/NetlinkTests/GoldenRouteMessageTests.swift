import CNetlinkRoute
import Glibc
import Testing

@testable import Netlink

/// Golden bytes of the rtnetlink requests libnl builds from our values; no socket, no root.
@Suite struct GoldenRouteMessageTests {
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    @Test func permanentNeighbourReplaceRequest() throws {
        let neighbour = Neighbour(
            device: "br0", address: try #require(IPAddress("10.7.0.1")),
            mac: LinkLayerAddress("02:42:00:00:00:01"))
        let bytes = try NeighbourMessages.neighbour(
            neighbour, index: 2, add: true, flags: NeighbourMessages.create | NeighbourMessages.replace)
        #expect(
            // len 48, RTM_NEWNEIGH, CREATE|REPLACE
            hex(bytes) == "30000000" + "1c00" + "0005" + "00000000" + "00000000"
                + "02000000" + "02000000" + "8000" + "00" + "00"  // AF_INET, ifindex 2, NUD_PERMANENT
                + "0800" + "0100" + "0a070001"  // NDA_DST 10.7.0.1
                + "0a00" + "0200" + "024200000001" + "0000")  // NDA_LLADDR
    }

    @Test func vxlanFDBEntryIsBridgeFamilySelfPermanentWithDestination() throws {
        let entry = FDBEntry(
            device: "vx0", mac: try #require(LinkLayerAddress("02:42:0a:01:00:05")),
            destination: IPAddress("192.168.1.2"))
        let bytes = try NeighbourMessages.fdb(
            entry, index: 3, add: true, flags: NeighbourMessages.create | NeighbourMessages.replace)
        #expect(
            hex(bytes) == "30000000" + "1c00" + "0005" + "00000000" + "00000000"
                + "07000000" + "03000000" + "8000" + "02" + "00"  // AF_BRIDGE, ifindex 3, PERMANENT, NTF_SELF
                + "0800" + "0100" + "c0a80102"  // NDA_DST: the remote VTEP
                + "0a00" + "0200" + "02420a010005" + "0000")
        let delete = try NeighbourMessages.fdb(entry, index: 3, add: false, flags: 0)
        #expect(Array(delete[4..<8]) == [0x1d, 0x00, 0x00, 0x00])  // RTM_DELNEIGH, no flags
    }

    /// Reads the link message's attributes back; libnl's own order is not part of the contract.
    private func linkAttributes(_ spec: LinkSpec, master: Int32? = nil) throws -> AttributeTable {
        let link = try RouteObjects.link(spec, masterIndex: master, namespaceFD: nil, peerNamespaceFD: nil)
        defer { rtnl_link_put(link) }
        var message: OpaquePointer?
        #expect(
            rtnl_link_build_add_request(link, RouteObjects.nlmCreate | RouteObjects.nlmExclusive, &message)
                == 0)
        let built = try #require(message)
        defer { nlmsg_free(built) }
        let bytes = Libnl.messageBytes(built)
        #expect(Array(bytes[4..<8]) == [0x10, 0x00, 0x00, 0x06])  // RTM_NEWLINK, CREATE|EXCL
        return Attributes.parse(bytes, from: 32)  // after nlmsghdr + ifinfomsg
    }

    @Test func vxlanLinkCarriesVNIPort4789LocalAndLearningOff() throws {
        let spec = LinkSpec(
            name: "vx0", kind: .vxlan(VXLANOptions(vni: 4242, local: IPAddress("10.9.0.1"), ttl: 64)),
            mtu: 1450)
        let attributes = try linkAttributes(spec, master: 5)
        #expect(Attributes.string(attributes[UInt16(IFLA_IFNAME)]) == "vx0")
        #expect(Attributes.u32(attributes[UInt16(IFLA_MTU)]) == 1450)
        #expect(Attributes.u32(attributes[UInt16(IFLA_MASTER)]) == 5)
        let info = Attributes.parse(Array(try #require(attributes[UInt16(IFLA_LINKINFO)])))
        #expect(Attributes.string(info[UInt16(IFLA_INFO_KIND)]) == "vxlan")
        let data = Attributes.parse(Array(try #require(info[UInt16(IFLA_INFO_DATA)])))
        #expect(Attributes.u32(data[UInt16(IFLA_VXLAN_ID)]) == 4242)
        // 4789 in network order; libnl 3.7 pads the be16 to a 4-byte payload, the kernel reads 2.
        #expect(data[UInt16(IFLA_VXLAN_PORT)].map { Array($0.prefix(2)) } == [0x12, 0xb5])
        #expect(data[UInt16(IFLA_VXLAN_LOCAL)].map(Array.init) == [10, 9, 0, 1])
        #expect(data[UInt16(IFLA_VXLAN_LEARNING)].map(Array.init) == [0])
        #expect(data[UInt16(IFLA_VXLAN_PROXY)].map(Array.init) == [0])
        #expect(data[UInt16(IFLA_VXLAN_TTL)].map(Array.init) == [64])
    }

    @Test func bridgeAndDummyAreKindsAndUpSetsTheFlag() throws {
        for (kind, name) in [(LinkKind.bridge, "bridge"), (LinkKind.dummy, "dummy")] {
            let link = try RouteObjects.link(
                LinkSpec(name: "x0", kind: kind, up: true), masterIndex: nil, namespaceFD: nil,
                peerNamespaceFD: nil)
            defer { rtnl_link_put(link) }
            var message: OpaquePointer?
            #expect(rtnl_link_build_add_request(link, 0, &message) == 0)
            let built = try #require(message)
            defer { nlmsg_free(built) }
            let bytes = Libnl.messageBytes(built)
            // ifinfomsg: flags at 24..28 and change mask at 28..32 both carry IFF_UP.
            #expect(Attributes.u32(bytes[24..<28]) == UInt32(IFF_UP))
            #expect(Attributes.u32(bytes[28..<32]) == UInt32(IFF_UP))
            let info = Attributes.parse(
                Array(try #require(Attributes.parse(bytes, from: 32)[UInt16(IFLA_LINKINFO)])))
            #expect(Attributes.string(info[UInt16(IFLA_INFO_KIND)]) == name)
        }
    }

    @Test func vethPeerIsNestedWithItsNameAndNamespace() throws {
        let link = try RouteObjects.link(
            LinkSpec(name: "ve0", kind: .veth(peer: "eth0")), masterIndex: nil, namespaceFD: nil,
            peerNamespaceFD: 9)
        defer { rtnl_link_put(link) }
        var message: OpaquePointer?
        #expect(rtnl_link_build_add_request(link, 0, &message) == 0)
        let built = try #require(message)
        defer { nlmsg_free(built) }
        let bytes = Libnl.messageBytes(built)
        let info = Attributes.parse(
            Array(try #require(Attributes.parse(bytes, from: 32)[UInt16(IFLA_LINKINFO)])))
        #expect(Attributes.string(info[UInt16(IFLA_INFO_KIND)]) == "veth")
        let data = Attributes.parse(Array(try #require(info[UInt16(IFLA_INFO_DATA)])))
        let peer = Array(try #require(data[1]))  // VETH_INFO_PEER: ifinfomsg then attributes
        let peerAttributes = Attributes.parse(peer, from: 16)
        #expect(Attributes.string(peerAttributes[UInt16(IFLA_IFNAME)]) == "eth0")
        #expect(Attributes.u32(peerAttributes[UInt16(IFLA_NET_NS_FD)]) == 9)
    }

    @Test func onlinkRouteInATable() throws {
        let route = Route(
            destination: try #require(IPAddress("10.2.0.0")), prefixLength: 16,
            gateway: IPAddress("192.168.7.1"),
            device: "br0", onlink: true, table: 100)
        let object = try RouteObjects.route(route, index: 4)
        defer { rtnl_route_put(object) }
        var message: OpaquePointer?
        #expect(
            rtnl_route_build_add_request(object, RouteObjects.nlmCreate | RouteObjects.nlmReplace, &message)
                == 0)
        let built = try #require(message)
        defer { nlmsg_free(built) }
        let bytes = Libnl.messageBytes(built)
        // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        #expect(
            Array(bytes[16..<24]) == [2, 16, 0, 0, 100, RouteProtocol.shoal.rawValue, 0, UInt8(RTN_UNICAST)])
        let attributes = Attributes.parse(bytes, from: 28)
        #expect(attributes[UInt16(RTA_DST.rawValue)].map(Array.init) == [10, 2, 0, 0])
        #expect(Attributes.u32(attributes[UInt16(RTA_TABLE.rawValue)]) == 100)
        #expect(attributes[UInt16(RTA_GATEWAY.rawValue)].map(Array.init) == [192, 168, 7, 1])
        #expect(Attributes.u32(attributes[UInt16(RTA_OIF.rawValue)]) == 4)
        #expect(Attributes.u32(bytes[24..<28]) == UInt32(RTNH_F_ONLINK))
    }
}
