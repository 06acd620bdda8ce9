import Testing

@testable import ShoalAgent

/// `--dns-upstream` values: IPv4 with an optional port; Shoal's own address would loop.
@Suite struct TaskDNSSettingsTests {
    @Test func upstreamsParseOrAreRefusedWithTheValue() throws {
        #expect(try TaskDNS.socketAddress("10.0.0.2").port == 53)
        #expect(try TaskDNS.socketAddress("10.0.0.2:5353").port == 5353)
        for bad in [
            "127.0.0.11", "127.0.0.11:53", "dns.example", "10.0.0.2:0", "10.0.0.2:70000", "1.2.3.4:5:6", "",
        ] {
            #expect(throws: DataPlaneError.self, "\(bad)") { try TaskDNS.socketAddress(bad) }
            do {
                _ = try TaskDNS.socketAddress(bad)
            } catch {
                #expect(error.operation == "dns upstream \(bad)" && error.errno == 22)
            }
        }
    }
}
