import Glibc
import Netlink
import NetlinkTestSupport
import Testing

/// Namespaces in a directory the caller names, held by descriptor; sysctls and sockets inside them.
@Suite(.serialized) struct NamespaceAPINetnsTests {
    /// A fresh directory under /run (removed with everything bound in it) for `body`.
    private func withDirectory(_ body: (NamespaceDirectory) async throws -> Void) async throws {
        try Scratch.requireRoot()
        let path = "/run/" + Scratch.name("dir")
        let directory = NamespaceDirectory(path)
        defer {
            for name in (try? directory.list()) ?? [] { try? directory.delete(name) }
            umount2(path, Int32(MNT_DETACH))
            rmdir(path)
        }
        try await body(directory)
    }

    @Test func directoryCreatesListsOpensAndDeletesNamespaces() async throws {
        try await withDirectory { directory in
            let name = Scratch.name("ns")
            let namespace = try await directory.create(name)
            #expect(try directory.list() == [name])
            // A separate namespace that nsenter sees at that path: only lo.
            let links = try Shell.run(["nsenter", "--net=\(directory.path)/\(name)", "ip", "-o", "link"])
            #expect(links.split(separator: "\n").count == 1)
            #expect(links.contains("lo:"))
            // Its identity is the (dev, inode) stat reports for the bound file.
            let stat = try Shell.run(["stat", "-L", "-c", "%d %i", "\(directory.path)/\(name)"])
            let identity = try namespace.identity()
            #expect(
                stat.trimmingCharacters(in: .whitespacesAndNewlines) == "\(identity.device) \(identity.inode)"
            )
            #expect(try NetworkNamespace.current.identity() != identity)

            await expectError(\.isAlreadyExists) { try await directory.create(name) }
            await expectError({ $0.code == .errno(EINVAL) && $0.detail?.contains("path component") == true })
            {
                try await directory.create("a/b")
            }

            // Held by descriptor, it outlives its file and is still usable.
            let handle = try directory.open(name)
            #expect(handle.identity == identity)
            try directory.delete(name)
            #expect(try directory.list().isEmpty)
            await expectError(\.isNotFound) { try directory.delete(name) }
            let client = try await RouteClient.open(.handle(handle))
            try await client.createLink(LinkSpec(name: "h0", kind: .bridge))
            #expect(try await client.link(named: "h0") != nil)
            #expect(try NetworkNamespace.handle(handle).identity() == identity)
        }
    }

    @Test func sysctlsAreReadAndWrittenInsideTheNamespace() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = NetworkNamespace.named(names[0])
            let host = try Shell.run(["sysctl", "-n", "net.ipv4.ip_forward"])
            #expect(try await ns.sysctl("net.ipv4.ip_forward") == "0")
            try await ns.setSysctl("net.ipv4.ip_forward", to: "1")
            #expect(try await ns.sysctl("net.ipv4.ip_forward") == "1")
            let inside = try Shell.run([
                "ip", "netns", "exec", names[0], "sysctl", "-n", "net.ipv4.ip_forward",
            ])
            #expect(inside.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(try Shell.run(["sysctl", "-n", "net.ipv4.ip_forward"]) == host)
            // Slash form, for interface names with dots.
            try await ns.setSysctl("net/ipv4/conf/lo/rp_filter", to: "2")
            #expect(
                try Shell.run(["ip", "netns", "exec", names[0], "sysctl", "-n", "net.ipv4.conf.lo.rp_filter"])
                    .hasPrefix("2"))
            await expectError({ $0.code == .errno(EINVAL) && $0.detail?.contains("net.*") == true }) {
                _ = try await ns.sysctl("kernel.hostname")
            }
            await expectError({ $0.code == .errno(EINVAL) }) { _ = try await ns.sysctl("net.ipv4/../../x") }
            await expectError(\.isNotFound) { _ = try await ns.sysctl("net.ipv4.no_such_key") }
        }
    }

    @Test func socketsAreMadeInsideTheNamespaceAndCloseOnExec() async throws {
        try await Scratch.withNamespaces(1) { names in
            let ns = NetworkNamespace.named(names[0])
            let client = try await RouteClient.open(ns)
            try await client.changeLink("lo", LinkChange(up: true))
            let fd = try await ns.makeSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
            defer { close(fd) }
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(53).bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_000b).bigEndian  // 127.0.0.11
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(bound == 0, "bind: errno \(errno)")
            let listening = try Shell.run(["ip", "netns", "exec", names[0], "ss", "-uln"])
            #expect(listening.contains("127.0.0.11:53"))
            #expect(!(try Shell.run(["ss", "-uln"])).contains("127.0.0.11:53 "))
        }
    }
}
