import Testing

@testable import ShoalModel

@Suite struct AddressTests {
    @Test func parsesAndPrintsIPv4() {
        #expect(IPv4Address("10.0.1.2")?.value == 0x0A00_0102)
        #expect(IPv4Address(0xC0A8_0001).description == "192.168.0.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2.3", "+1.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "accepted \(bad)")
        }
    }

    @Test func cidrArithmetic() throws {
        let cidr = try #require(CIDR("10.0.5.7/24"))
        #expect(cidr.network.description == "10.0.5.0")
        #expect(cidr.broadcast.description == "10.0.5.255")
        #expect(cidr.size == 256)
        #expect(cidr.contains(try #require(IPv4Address("10.0.5.254"))))
        #expect(!cidr.contains(try #require(IPv4Address("10.0.6.1"))))
        #expect(cidr.overlaps(try #require(CIDR("10.0.0.0/16"))))
        #expect(!cidr.overlaps(try #require(CIDR("10.0.6.0/24"))))
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(CIDR("10.0.0.0") == nil)
    }

    @Test func macFromIPMatchesDockerScheme() throws {
        let ip = try #require(IPv4Address("10.0.0.2"))
        #expect(MACAddress(derivedFrom: ip).description == "02:42:0a:00:00:02")
        #expect(MACAddress("02:42:0A:00:00:02")?.description == "02:42:0a:00:00:02")
        #expect(MACAddress("02:42:0a:00:00") == nil)
    }
}
