import Glibc
import Netlink
import NetlinkTestSupport
import Testing

@Suite(.serialized) struct AddressRouteNeighbourNetnsTests {
    @Test func addressesAddListAndDeleteForBothFamilies() async throws {
        try await Scratch.withOverlay { ns, client in
            let v4 = Address(device: "br0", address: try #require(IPAddress("10.1.0.1")), prefixLength: 24)
            let v6 = Address(device: "br0", address: try #require(IPAddress("fd00:1::1")), prefixLength: 64)
            try await client.addAddress(v4)
            try await client.addAddress(v6)
            try await client.addAddress(v4)  // Re-applying is not an error.
            let shown = try Shell.ip(ns, "addr", "show", "dev", "br0")
            #expect(shown.contains("inet 10.1.0.1/24"))
            #expect(shown.contains("inet6 fd00:1::1/64"))
            let listed = try await client.addresses(device: "br0")
            #expect(listed.contains(v4))
            #expect(listed.contains(v6))
            try await client.deleteAddress(v4)
            try await client.deleteAddress(v6)
            let after = try Shell.ip(ns, "addr", "show", "dev", "br0")
            #expect(!after.contains("10.1.0.1"))
            #expect(!after.contains("fd00:1::1"))
            // A device that is not there fails the batch before anything is sent.
            await expectError(\.isNotFound) { try await client.deleteAddress(v4) }
        }
    }

    @Test func addressBatchesAddEveryAddressAndFailWholeOnAMissingDevice() async throws {
        try await Scratch.withOverlay { ns, client in
            // The mesh's VIPs: /32s on br0, pipelined (per-request errors: the FDB batch test below).
            let addresses = (0..<500).map {
                Address(
                    device: "br0", address: .v4(10, 9, UInt8($0 >> 8), UInt8($0 & 0xff)), prefixLength: 32)
            }
            let results = try await client.addAddresses(addresses)
            #expect(results.allSatisfy { $0 == nil })
            let shown = try Shell.ip(ns, "-4", "addr", "show", "dev", "br0")
            #expect(
                shown.split(separator: "\n").filter { $0.contains("inet 10.9.") && $0.contains("/32") }.count
                    == 500)
            // Re-adding is not an error (replace).
            #expect(try await client.addAddresses(Array(addresses.prefix(10))).allSatisfy { $0 == nil })
            // A device that is not there fails the batch before anything is sent.
            await expectError(\.isNotFound) {
                _ = try await client.addAddresses([
                    Address(device: "nosuch0", address: .v4(10, 9, 201, 1), prefixLength: 32)
                ])
            }
        }
    }

    @Test func routesReplaceIdempotentlyWithOnlinkAndTables() async throws {
        try await Scratch.withOverlay { ns, client in
            try await client.addAddress(
                Address(device: "br0", address: try #require(IPAddress("10.1.0.1")), prefixLength: 24))
            let onlink = Route(
                destination: try #require(IPAddress("10.2.0.0")), prefixLength: 16,
                gateway: IPAddress("192.168.7.1"), device: "br0", onlink: true)
            try await client.replaceRoute(onlink)
            try await client.replaceRoute(onlink)
            let main = try Shell.ip(ns, "route", "show")
            #expect(main.contains("10.2.0.0/16 via 192.168.7.1 dev br0 proto 83 onlink"))
            let inTable = Route(
                destination: try #require(IPAddress("0.0.0.0")), prefixLength: 0,
                gateway: IPAddress("10.1.0.254"), device: "br0", table: 100)
            try await client.replaceRoute(inTable)
            #expect(
                try Shell.ip(ns, "route", "show", "table", "100").contains("default via 10.1.0.254 dev br0"))
            let v6 = Route(destination: try #require(IPAddress("fd00:9::")), prefixLength: 64, device: "br0")
            try await client.replaceRoute(v6)
            #expect(try Shell.ip(ns, "-6", "route", "show").contains("fd00:9::/64 dev br0"))

            let routes = try await client.routes()
            #expect(routes.contains(onlink))
            #expect(try await client.routes(table: 100) == [inTable])

            try await client.deleteRoute(onlink)
            try await client.deleteRoute(inTable)
            #expect(!(try Shell.ip(ns, "route", "show")).contains("10.2.0.0/16"))
            #expect(try Shell.ip(ns, "route", "show", "table", "100").isEmpty)
            // A device that is not there fails the batch before anything is sent.
            await expectError(\.isNotFound) { try await client.deleteRoute(onlink) }
        }
    }

    @Test func neighboursArePermanentAndReplaceable() async throws {
        try await Scratch.withOverlay { ns, client in
            let neighbour = Neighbour(
                device: "br0", address: try #require(IPAddress("10.1.0.5")),
                mac: LinkLayerAddress("02:42:0a:01:00:05"))
            try await client.replaceNeighbour(neighbour)
            try await client.replaceNeighbour(neighbour)
            #expect(
                try Shell.ip(ns, "neigh", "show", "dev", "br0").contains(
                    "10.1.0.5 lladdr 02:42:0a:01:00:05 PERMANENT"))
            var moved = neighbour
            moved.mac = LinkLayerAddress("02:42:0a:01:00:06")
            try await client.replaceNeighbour(moved)
            #expect(
                try Shell.ip(ns, "neigh", "show", "dev", "br0").contains("lladdr 02:42:0a:01:00:06 PERMANENT")
            )
            let v6 = Neighbour(
                device: "br0", address: try #require(IPAddress("fd00:1::5")),
                mac: LinkLayerAddress("02:00:00:00:00:05"))
            try await client.replaceNeighbour(v6)
            #expect(
                try Shell.ip(ns, "-6", "neigh", "show").contains(
                    "fd00:1::5 dev br0 lladdr 02:00:00:00:00:05 PERMANENT"))
            let listed = try await client.neighbours(device: "br0")
            #expect(listed.contains(moved))
            #expect(listed.contains(v6))
            #expect(
                listed.filter { $0.address == moved.address || $0.address == v6.address }.allSatisfy {
                    $0.isPermanent
                })
            try await client.deleteNeighbour(moved)
            #expect(!(try Shell.ip(ns, "neigh", "show")).contains("10.1.0.5"))
            // A device that is not there fails the batch before anything is sent.
            await expectError(\.isNotFound) { try await client.deleteNeighbour(moved) }
        }
    }

    @Test func fdbEntriesPointMACsAtRemoteVTEPs() async throws {
        try await Scratch.withOverlay { ns, client in
            let entry = FDBEntry(
                device: "vx0", mac: try #require(LinkLayerAddress("02:42:0a:01:00:05")),
                destination: IPAddress("192.168.1.2"))
            try await client.replaceFDBEntry(entry)
            try await client.replaceFDBEntry(entry)
            #expect(
                try Shell.bridge(ns, "fdb", "show", "dev", "vx0").contains(
                    "02:42:0a:01:00:05 dst 192.168.1.2 self permanent"))
            var moved = entry
            moved.destination = IPAddress("192.168.1.3")
            try await client.replaceFDBEntry(moved)
            let shown = try Shell.bridge(ns, "fdb", "show", "dev", "vx0")
            #expect(shown.contains("02:42:0a:01:00:05 dst 192.168.1.3 self permanent"))
            #expect(!shown.contains("192.168.1.2"))
            #expect(try await client.fdbEntries(device: "vx0").contains(moved))
            try await client.deleteFDBEntry(moved)
            #expect(!(try Shell.bridge(ns, "fdb", "show", "dev", "vx0")).contains("02:42:0a:01:00:05"))
            // A device that is not there fails the batch before anything is sent.
            await expectError(\.isNotFound) { try await client.deleteFDBEntry(moved) }
        }
    }

    @Test func batchesReportEachFailureAgainstItsOwnRequest() async throws {
        try await Scratch.withOverlay { ns, client in
            let count = 3000
            var entries: [FDBEntry] = []
            var neighbours: [Neighbour] = []
            for i in 0..<count {
                let high = UInt8(i >> 8)
                let low = UInt8(i & 0xff)
                let mac = try #require(LinkLayerAddress(bytes: [2, 0x42, 0, 0, high, low]))
                let vtep = IPAddress.v4(192, 168, 1, UInt8(1 + i % 200))
                entries.append(FDBEntry(device: "vx0", mac: mac, destination: vtep))
                neighbours.append(Neighbour(device: "br0", address: .v4(10, 7, high, low), mac: mac))
            }
            #expect(try await client.replaceFDBEntries(entries).allSatisfy { $0 == nil })
            #expect(try await client.replaceNeighbours(neighbours).allSatisfy { $0 == nil })
            let fdbLines = try Shell.bridge(ns, "fdb", "show", "dev", "vx0").split(separator: "\n")
            #expect(
                fdbLines.filter { $0.contains("self permanent") && $0.contains("dst 192.168.1.") }.count
                    == count)
            let neighLines = try Shell.ip(ns, "neigh", "show", "dev", "br0").split(separator: "\n")
            #expect(neighLines.filter { $0.contains("PERMANENT") }.count == count)
            #expect(
                try await client.fdbEntries(device: "vx0").filter { $0.destination != nil }.count == count)
            #expect(try await client.neighbours(device: "br0").filter { $0.isPermanent }.count == count)

            // Delete 10 entries, then delete a batch that includes them again: exactly those fail.
            _ = try await client.deleteFDBEntries(Array(entries[100..<110]))
            let results = try await client.deleteFDBEntries(Array(entries[0..<200]))
            for (index, result) in results.enumerated() {
                if (100..<110).contains(index) {
                    #expect(result?.isNotFound == true, "entry \(index): \(String(describing: result))")
                } else {
                    #expect(result == nil, "entry \(index): \(String(describing: result))")
                }
            }
            let remaining = try Shell.bridge(ns, "fdb", "show", "dev", "vx0").split(separator: "\n")
            #expect(remaining.filter { $0.contains("dst 192.168.1.") }.count == count - 200)
        }
    }
}
