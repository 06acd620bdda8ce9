import Foundation
import Glibc
import Netlink
import NetlinkTestSupport
import Testing

/// Every IPVS operation against the VM kernel, checked with what `ipvsadm -Ln` prints.
/// Without ip_vs (this host) these fail: opening the client reports the missing family.
@Suite(.serialized) struct IPVSVMTests {
    private func withIPVS(_ body: (String, IPVSClient) async throws -> Void) async throws {
        try await Scratch.withNamespaces(1) { names in
            // IPVS refuses destinations that do not route as unicast (in a fresh namespace
            // nothing does): give the namespace a bridge on 10.0.0.0/8, as an overlay would have.
            for command in [
                ["link", "set", "lo", "up"], ["link", "add", "br0", "type", "bridge"],
                ["link", "set", "br0", "up"],
                ["addr", "add", "10.0.0.254/8", "dev", "br0"],
            ] {
                try Shell.run(["ip", "-n", names[0]] + command)
            }
            let client: IPVSClient
            do {
                client = try await IPVSClient.open(.named(names[0]))
            } catch {
                Issue.record("IPVS is not available (these tests run inside scripts/kernel-vm): \(error)")
                return
            }
            try await body(names[0], client)
        }
    }

    private func ipvsadm(_ ns: String, _ arguments: String...) throws -> String {
        try Shell.run(["ip", "netns", "exec", ns, "ipvsadm"] + arguments)
    }

    @Test func servicesAndDestinationsAsIpvsadmShowsThem() async throws {
        try await withIPVS { ns, client in
            let web = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.1")), port: 80)
            let dns = ServiceKey.address(.udp, try #require(IPAddress("fd00::1")), port: 53)
            let mark = ServiceKey.firewallMark(7)
            try await client.apply(.addService(VirtualService(key: web)))
            try await client.apply(.addService(VirtualService(key: dns, scheduler: "wrr")))
            try await client.apply(.addService(VirtualService(key: mark, flags: 1, timeout: 600)))
            try await client.apply(
                .addDestination(web, Destination(address: .v4(10, 1, 0, 2), port: 8080, weight: 3)))
            try await client.apply(
                .addDestination(web, Destination(address: .v4(10, 1, 0, 3), port: 8080, forwarding: .tunnel)))
            try await client.apply(
                .addDestination(
                    mark, Destination(address: .v4(10, 1, 0, 4), port: 0, forwarding: .directRoute)))
            try await client.apply(
                .addDestination(
                    dns,
                    Destination(address: try #require(IPAddress("fd00::9")), port: 53, upperThreshold: 100)))

            let shown = try ipvsadm(ns, "-Ln")
            #expect(shown.contains("TCP  10.0.0.1:80 rr"))
            #expect(shown.contains("UDP  [fd00::1]:53 wrr"))
            #expect(shown.contains("FWM  7 rr persistent 600"))
            #expect(
                shown.range(of: #"-> 10\.1\.0\.2:8080\s+Masq\s+3\s+0\s+0"#, options: .regularExpression)
                    != nil)
            #expect(shown.range(of: #"-> 10\.1\.0\.3:8080\s+Tunnel\s+1"#, options: .regularExpression) != nil)
            #expect(shown.range(of: #"-> 10\.1\.0\.4:0\s+Route\s+1"#, options: .regularExpression) != nil)
            #expect(shown.contains("-> [fd00::9]:53"))

            // Read back: all services in one dump, destinations per service, counters present.
            let services = try await client.services()
            #expect(Set(services.map(\.key)) == [web, dns, mark])
            let persistent = try #require(services.first { $0.key == mark })
            #expect(persistent.flags & 1 == 1)
            #expect(persistent.timeout == 600)
            #expect(services.allSatisfy { $0.stats != nil })
            let webDestinations = try await client.destinations(of: web)
            #expect(
                webDestinations.map(\.address).sorted { $0.description < $1.description } == [
                    .v4(10, 1, 0, 2), .v4(10, 1, 0, 3),
                ])
            let weighted = try #require(webDestinations.first { $0.address == .v4(10, 1, 0, 2) })
            #expect(weighted.weight == 3)
            #expect(weighted.forwarding == .masquerade)
            #expect(weighted.activeConnections == 0)
            #expect(weighted.inactiveConnections == 0)
            #expect(weighted.stats != nil)
            #expect(try await client.destinations(of: dns).first?.upperThreshold == 100)
            #expect(try await client.state().count == 3)

            // Updates: drain a destination (weight 0), change a scheduler.
            try await client.apply(
                .updateDestination(web, Destination(address: .v4(10, 1, 0, 2), port: 8080, weight: 0)))
            try await client.apply(.updateService(VirtualService(key: web, scheduler: "wrr")))
            let updated = try ipvsadm(ns, "-Ln")
            #expect(updated.contains("TCP  10.0.0.1:80 wrr"))
            #expect(
                updated.range(of: #"-> 10\.1\.0\.2:8080\s+Masq\s+0\s+"#, options: .regularExpression) != nil)

            // Idempotency as errors the caller can match.
            await expectError(\.isAlreadyExists) {
                try await client.apply(.addService(VirtualService(key: web)))
            }
            try await client.apply(.deleteDestination(web, .v4(10, 1, 0, 3), port: 8080))
            #expect(!(try ipvsadm(ns, "-Ln")).contains("10.1.0.3:8080"))
            await expectError(\.isNotFound) {
                try await client.apply(.deleteDestination(web, .v4(10, 1, 0, 3), port: 8080))
            }
            try await client.apply(.deleteService(dns))
            #expect(!(try ipvsadm(ns, "-Ln")).contains("fd00::1"))
            await expectError(\.isNotFound) { try await client.apply(.deleteService(dns)) }
            #expect(try await client.service(dns) == nil)
            #expect(try await client.service(web)?.scheduler == "wrr")

            try await client.apply(.flush)
            let flushed = try ipvsadm(ns, "-Ln")
            #expect(!flushed.contains("TCP  ") && !flushed.contains("FWM  ") && !flushed.contains("-> 10."))
            #expect(try await client.services().isEmpty)
        }
    }

    @Test func infoAndTimeouts() async throws {
        try await withIPVS { ns, client in
            let info = try await client.info()
            #expect(
                try ipvsadm(ns, "-Ln").contains(
                    "IP Virtual Server version \(info.versionString) (size=\(info.connectionTableSize))"))
            try await client.setTimeouts(IPVSTimeouts(tcp: 901, tcpFin: 121, udp: 301))
            #expect(try ipvsadm(ns, "-L", "--timeout").contains("Timeout (tcp tcpfin udp): 901 121 301"))
            #expect(try await client.timeouts() == IPVSTimeouts(tcp: 901, tcpFin: 121, udp: 301))
        }
    }

    @Test func batchReportsTheFailingRequestAndAppliesTheRest() async throws {
        try await withIPVS { ns, client in
            var requests: [IPVSRequest] = []
            for i in 0..<200 {
                let key = ServiceKey.address(.tcp, .v4(10, 2, UInt8(i / 250), UInt8(1 + i % 250)), port: 80)
                requests.append(.addService(VirtualService(key: key)))
                for d in 0..<5 {
                    requests.append(
                        .addDestination(
                            key, Destination(address: .v4(10, 3, UInt8(i % 250), UInt8(1 + d)), port: 8080)))
                }
            }
            let duplicate = 600
            requests.insert(requests[0], at: duplicate)  // The same service again: EEXIST.
            let missing = ServiceKey.address(.tcp, .v4(10, 9, 9, 9), port: 1)
            requests.append(.addDestination(missing, Destination(address: .v4(10, 3, 0, 1), port: 1)))
            let results = try await client.apply(batch: requests)
            #expect(results.count == requests.count)
            #expect(results[duplicate]?.isAlreadyExists == true, "\(String(describing: results[duplicate]))")
            #expect(results[requests.count - 1]?.isNotFound == true, "\(String(describing: results.last))")
            let failed = results.enumerated().filter { $0.element != nil }.map(\.offset)
            #expect(failed == [duplicate, requests.count - 1])
            let shown = try ipvsadm(ns, "-Ln").split(separator: "\n")
            #expect(shown.filter { $0.hasPrefix("TCP  10.2.") }.count == 200)
            #expect(shown.filter { $0.contains("-> 10.3.") }.count == 1000)
            let state = try await client.state()
            #expect(state.count == 200)
            #expect(state.allSatisfy { $0.destinations.count == 5 })
        }
    }

    // Issue #8, bug 8: read back, a persistent service with a netmask equals the desired one, and
    // the kernel got the mask in network order (ipvsadm prints what the kernel holds).
    @Test func persistentServiceWithNetmaskReadsBackEqual() async throws {
        try await withIPVS { ns, client in
            let key = ServiceKey.address(.tcp, try #require(IPAddress("10.0.0.7")), port: 443)
            let desired = VirtualService(
                key: key, scheduler: "sh", flags: 1, timeout: 300, netmask: 0xffff_ff00)
            try await client.apply(.addService(desired))
            #expect(try ipvsadm(ns, "-Ln").contains("TCP  10.0.0.7:443 sh persistent 300 mask 255.255.255.0"))
            #expect(try await client.service(key) == desired)
            #expect(try await client.services() == [desired])
            let destination = Destination(address: .v4(10, 1, 0, 2), port: 443, weight: 2)
            try await client.apply(.addDestination(key, destination))
            #expect(try await client.destinations(of: key) == [destination])
        }
    }

    /// The IPVS sysctls the agent sets, inside the namespace, as `sysctl` shows them there.
    @Test func ipvsSysctlsAreSetInsideTheNamespace() async throws {
        try await withIPVS { ns, _ in
            let namespace = NetworkNamespace.named(ns)
            for key in [
                "net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn",
                "net.ipv4.vs.expire_quiescent_template",
            ] {
                try await namespace.setSysctl(key, to: "1")
                #expect(try await namespace.sysctl(key) == "1")
                let shown = try Shell.run(["ip", "netns", "exec", ns, "sysctl", "-n", key])
                #expect(shown.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(key)")
            }
            try await namespace.setSysctl("net.ipv4.vs.conn_reuse_mode", to: "0")
            #expect(try await namespace.sysctl("net.ipv4.vs.conn_reuse_mode") == "0")
        }
    }
}
