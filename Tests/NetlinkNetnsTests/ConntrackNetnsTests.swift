import Glibc
import Netlink
import NetlinkTestSupport
import Testing

/// Deleting the conntrack entries of a removed UDP backend, checked with `conntrack -L`.
@Suite(.serialized) struct ConntrackNetnsTests {
    /// A UDP flow client:40000+i -> VIP 10.96.0.10:53, answered by `backend`.
    private func insertFlow(_ ns: String, client: String, port: Int, backend: String) throws {
        try Shell.run([
            "ip", "netns", "exec", ns, "conntrack", "-I", "-p", "udp", "-s", client, "-d", "10.96.0.10",
            "--sport", "\(port)", "--dport", "53", "-r", backend, "-q", client, "--reply-port-src", "53",
            "--reply-port-dst", "\(port)", "-t", "120",
        ])
    }

    @Test func entriesOfARemovedBackendAreDeletedAndOthersKept() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = names[0]
            try insertFlow(ns, client: "10.0.0.5", port: 40000, backend: "10.0.1.7")
            try insertFlow(ns, client: "10.0.0.6", port: 40001, backend: "10.0.1.7")
            try insertFlow(ns, client: "10.0.0.7", port: 40002, backend: "10.0.1.8")
            let namespace = NetworkNamespace.named(ns)
            let entries = try await Conntrack.entries(in: namespace)
            #expect(entries.count == 3)
            let first = try #require(entries.first { $0.original.source == IPAddress("10.0.0.5") })
            #expect(first.protocolNumber == 17)
            #expect(first.original.destination == IPAddress("10.96.0.10"))
            #expect(first.original.destinationPort == 53)
            #expect(first.reply.source == IPAddress("10.0.1.7"))

            let deleted = try await Conntrack.delete(
                matching: ConntrackFilter(protocolNumber: 17, replySource: IPAddress("10.0.1.7")),
                in: namespace)
            #expect(deleted == 2)
            let listed = try Shell.run(["ip", "netns", "exec", ns, "conntrack", "-L"])
            #expect(!listed.contains("src=10.0.1.7"))
            #expect(listed.contains("src=10.0.1.8"))
            // The host's table was not touched, and an empty filter cannot flush anything.
            await expectError({ $0.code == .errno(EINVAL) && $0.detail?.contains("no address") == true }) {
                _ = try await Conntrack.delete(matching: ConntrackFilter(protocolNumber: 17), in: namespace)
            }
            #expect(try await Conntrack.entries(in: namespace).count == 1)
        }
    }
}
