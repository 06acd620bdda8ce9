import NIOCore
import Testing

@testable import ShoalDNS

@Suite struct ResolvConfTests {
    @Test func nameserversSkipShoalsOwnAddress() throws {
        let text = """
            # generated
            search example.internal
            nameserver 127.0.0.11
            nameserver 10.0.0.2
            nameserver\t127.0.0.53
            nameserver not-an-address
            options ndots:0
            """
        #expect(
            ForwarderConfig.nameservers(resolvConf: text) == [
                try SocketAddress(ipAddress: "10.0.0.2", port: 53),
                try SocketAddress(ipAddress: "127.0.0.53", port: 53),
            ])
    }
}
