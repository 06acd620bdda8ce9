import CNetlinkRoute
import Glibc
import NetlinkTestSupport
import Testing

@testable import Netlink

/// Issue #8, bug 3: only the kernel (nl_pid 0) is believed. Another process's netlink socket can
/// send to ours; a forged error ACK with the sequence we are about to use must be ignored.
@Suite(.serialized) struct ForgedReplyNetnsTests {
    @Test func aReplyFromAnotherSocketIsIgnored() async throws {
        try await Scratch.withNamespaces(1) { names in
            let namespace = NetworkNamespace.named(names[0])
            let socket = try await WorkerPool.shared.next().run { () throws(NetlinkError) in
                UncheckedBox(try RouteSocket(namespace: namespace))
            }.value
            var local = sockaddr_nl()
            var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
            let named = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.fd, $0, &length) }
            }
            try #require(named == 0)
            // A forged NLMSG_ERROR (-EEXIST) carrying the socket's next sequence number.
            let forger = try await namespace.makeSocket(domain: AF_NETLINK, type: Int32(SOCK_RAW.rawValue))
            defer { close(forger) }
            var forged = [UInt8](repeating: 0, count: 36)
            Pipeline.store32(36, in: &forged, at: 0)
            Pipeline.store(Pipeline.errorType, in: &forged, at: 4)
            Pipeline.store32(0x1000_0001, in: &forged, at: 8)
            Pipeline.store32(UInt32(bitPattern: -EEXIST), in: &forged, at: 16)
            var target = sockaddr_nl()
            target.nl_family = sa_family_t(AF_NETLINK)
            target.nl_pid = local.nl_pid
            let sent = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(forger, forged, forged.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
            try #require(sent == 36, "sendto: errno \(errno)")
            // The first exchange uses that sequence; the kernel's answer, not the forgery, counts.
            #expect(try socket.index(of: "lo") == 1)
        }
    }
}
