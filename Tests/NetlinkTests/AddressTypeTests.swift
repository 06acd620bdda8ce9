import Testing

@testable import Netlink

@Suite struct AddressTypeTests {
    @Test func parsesAndPrintsBothFamilies() {
        #expect(IPAddress("10.1.2.3") == .v4(10, 1, 2, 3))
        #expect(IPAddress("10.1.2.3")?.description == "10.1.2.3")
        #expect(IPAddress("fd00::1")?.bytes.count == 16)
        #expect(IPAddress("fd00::1")?.description == "fd00::1")
        #expect(IPAddress("10.1.2") == nil)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }

    @Test func macAddresses() {
        #expect(LinkLayerAddress("02:42:0A:01:00:05")?.description == "02:42:0a:01:00:05")
        #expect(LinkLayerAddress("02:42:0a:01:00") == nil)
        #expect(LinkLayerAddress("02:42:0a:01:00:zz") == nil)
    }
}
