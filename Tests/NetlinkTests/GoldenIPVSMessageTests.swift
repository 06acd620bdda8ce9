import Glibc
import Testing

@testable import Netlink

/// Golden bytes of the IPVS generic netlink messages built with libmnl; no socket, no root.
@Suite struct GoldenIPVSMessageTests {
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }

    private let family: UInt16 = 0x24

    @Test func newTCPServiceCarriesTheFullEntry() throws {
        let key = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.1")), port: 80)
        let bytes = try IPVSMessages.request(.addService(VirtualService(key: key)), family: family)
        #expect(
            hex(bytes)
                == "68000000" + "2400" + "0100" + "00000000" + "00000000"  // len 104, family, NLM_F_REQUEST
                + "01" + "01" + "0000"  // IPVS_CMD_NEW_SERVICE, version 1
                + "5400" + "0180"  // IPVS_CMD_ATTR_SERVICE, nested
                + "0600" + "0100" + "0200" + "0000"  // AF_INET (u16, padded)
                + "0600" + "0200" + "0600" + "0000"  // TCP
                + "1400" + "0300" + "0a000001" + "000000000000000000000000"  // 16-byte address
                + "0600" + "0400" + "0050" + "0000"  // port 80, network order
                + "0700" + "0600" + "727200" + "00"  // scheduler "rr"
                + "0c00" + "0700" + "00000000" + "ffffffff"  // flags 0, mask all
                + "0800" + "0800" + "00000000"  // timeout 0
                + "0800" + "0900" + "ffffffff")  // netmask
    }

    @Test func firewallMarkServiceAndDestinationMessages() throws {
        let key = ServiceKey.firewallMark(7)
        let destination = Destination(
            address: .v4(10, 1, 0, 9), port: 8080, forwarding: .directRoute, weight: 3)
        let bytes = try IPVSMessages.request(.addDestination(key, destination), family: family)
        #expect(
            hex(bytes)
                == "70000000" + "2400" + "0100" + "00000000" + "00000000"  // len 112
                + "05" + "01" + "0000"  // IPVS_CMD_NEW_DEST
                // The service by firewall mark 7.
                + "1400" + "0180" + "0600" + "0100" + "0200" + "0000" + "0800" + "0500" + "07000000"
                + "4800" + "0280"  // IPVS_CMD_ATTR_DEST, nested, 72 bytes
                + "1400" + "0100" + "0a010009" + "000000000000000000000000"
                + "0600" + "0200" + "1f90" + "0000"  // port 8080
                + "0600" + "0b00" + "0200" + "0000"  // address family AF_INET
                + "0800" + "0300" + "03000000"  // direct route
                + "0800" + "0400" + "03000000"  // weight 3
                + "0800" + "0500" + "00000000" + "0800" + "0600" + "00000000")  // thresholds
        let delete = try IPVSMessages.request(
            .deleteDestination(key, .v4(10, 1, 0, 9), port: 8080), family: family)
        #expect(delete[16] == 7)  // IPVS_CMD_DEL_DEST, identity only
        #expect(delete.count == 16 + 4 + 20 + (4 + 20 + 8 + 8))
    }

    @Test func resolvingTheFamilyAsksTheControllerByName() throws {
        #expect(
            hex(try IPVSMessages.resolveFamily("IPVS"))
                == "20000000" + "1000" + "0100" + "00000000" + "00000000"  // len 32, GENL_ID_CTRL
                + "03" + "01" + "0000"  // CTRL_CMD_GETFAMILY
                + "0900" + "0200" + "4950565300" + "000000")  // CTRL_ATTR_FAMILY_NAME "IPVS", padded
    }

    @Test func parsesWhatItBuilds() throws {
        let key = ServiceKey.address(.udp, try #require(IPAddress("fd00::5")), port: 53)
        let service = VirtualService(key: key, scheduler: "wrr", flags: 1, timeout: 300)
        let message = try IPVSMessages.request(.addService(service), family: family)
        #expect(IPVSMessages.parseService(Array(message[16...])) == service)
        let destination = Destination(address: try #require(IPAddress("fd00::9")), port: 53, weight: 5)
        let destMessage = try IPVSMessages.request(.addDestination(key, destination), family: family)
        #expect(IPVSMessages.parseDestination(Array(destMessage[16...]), serviceFamily: .ipv6) == destination)
    }

    @Test func batchErrorsCarryTheKernelMessage() {
        // NLMSG_ERROR payload: error -17, the capped request header, then NLMSGERR_ATTR_MSG.
        var payload: [UInt8] = [0xef, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16)
        payload[4] = 40
        let text = Array("exists".utf8) + [0]
        payload += [UInt8(4 + text.count), 0, 1, 0] + text + [0]
        let (code, detail) = payload.withUnsafeBytes {
            Pipeline.parseError($0, flags: Pipeline.ackTLVsFlag | Pipeline.cappedFlag)
        }
        #expect(code == -17)
        #expect(detail == "exists")
    }

    // Issue #8, bug 8: the IPv4 persistence netmask is a __be32 for the kernel.
    @Test func ipv4PersistenceNetmaskGoesOutInNetworkOrder() throws {
        let key = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.1")), port: 80)
        let service = VirtualService(key: key, flags: 1, timeout: 60, netmask: 0xffff_ff00)
        let bytes = try IPVSMessages.request(.addService(service), family: family)
        #expect(hex(bytes).hasSuffix("0800" + "0900" + "ffffff00"))  // 255.255.255.0 on the wire
        #expect(IPVSMessages.parseService(Array(bytes[16...]))?.netmask == 0xffff_ff00)
    }

    // Issue #8, bug 8: read back, the kernel adds IP_VS_SVC_F_HASHED and counters.
    @Test func readBackServiceWithKernelFlagsAndStatsEqualsTheDesiredOne() throws {
        let key = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.1")), port: 80)
        let desired = VirtualService(key: key, flags: 1, timeout: 60)
        var kernel = desired
        kernel.flags |= 0x2  // IP_VS_SVC_F_HASHED
        let reply = try IPVSMessages.request(.addService(kernel), family: family)
        var parsed = try #require(IPVSMessages.parseService(Array(reply[16...])))
        #expect(parsed.flags == 1)
        parsed.stats = IPVSStats()
        parsed.stats?.connections = 7
        #expect(parsed == desired)
        #expect(Set([parsed, desired]).count == 1)
        var destination = Destination(address: .v4(10, 1, 0, 9), port: 80)
        let desiredDestination = destination
        destination.activeConnections = 3
        destination.stats = IPVSStats()
        #expect(destination == desiredDestination)
    }

    // Issue #8, bug 8: the scheduler name is bounded by IP_VS_SCHEDNAME_MAXLEN (16 with the NUL).
    @Test func schedulerNameLongerThanTheKernelTakesIsRefused() throws {
        let key = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.1")), port: 80)
        let long = String(repeating: "w", count: 16)
        #expect {
            _ = try IPVSMessages.request(
                .addService(VirtualService(key: key, scheduler: long)), family: family)
        } throws: { error in
            (error as? NetlinkError)?.code == .errno(EINVAL)
                && (error as? NetlinkError)?.detail?.contains("longer than 15 bytes") == true
        }
        // A 2,000-byte name used to be written past a fixed 1,024-byte buffer.
        #expect(throws: NetlinkError.self) {
            _ = try IPVSMessages.request(
                .addService(VirtualService(key: key, scheduler: String(repeating: "x", count: 2000))),
                family: family)
        }
        _ = try IPVSMessages.request(
            .addService(VirtualService(key: key, scheduler: String(repeating: "w", count: 15))),
            family: family)
    }
}
