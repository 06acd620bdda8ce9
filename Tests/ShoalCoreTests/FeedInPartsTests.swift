import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Issue 12: a COMPLETE is handed out in parts made from the shared encoded tables, so a feed never
/// holds a whole view's line and many first syncs at once do not hold many views.
@Suite struct FeedInPartsTests {
    /// `count` nodes, three networks, a VIP service with a published port on two of them, a
    /// DNS-round-robin service, and a global service: endpoints, load balancers, services and tasks.
    func cluster(nodes count: Int) async throws -> (Harness, [String]) {
        let h = try await Harness.make()
        var nodes: [String] = []
        for index in 1...count {
            nodes.append(try await h.addNode("n\(index)", address: "192.168.0.\(index)").id)
        }
        for name in ["front", "back", "data"] { try await h.network(NetworkSpec(name: name)) }
        var web = ServiceSpec(
            name: "web", replicas: 4, command: ["httpd"],
            networks: [
                NetworkAttachment(target: "front", aliases: ["www"]), NetworkAttachment(target: "back"),
            ])
        web.ports = [PortConfig(target: 80, published: 8080, publishMode: .ingress)]
        try await h.service(web)
        var db = ServiceSpec(
            name: "db", replicas: 2, command: ["db"], networks: [NetworkAttachment(target: "data")])
        db.endpointMode = .dnsrr
        try await h.service(db)
        var agent = ServiceSpec(name: "agent", command: ["a"], networks: [NetworkAttachment(target: "back")])
        agent.mode = .global
        try await h.service(agent)
        try await h.settle(alive: nodes)
        return (h, nodes)
    }

    /// The line the encoder makes of a node's whole view.
    func encoded(_ state: ClusterState, node: String, revision: UInt64, store: String) throws -> [UInt8] {
        let objects = NodeView.compute(state, nodeID: node).values.sorted { $0.key < $1.key }
        return try FeedLine.encode(.complete(revision: revision, objects: objects, store: store))
    }

    @Test func aCompleteInPartsIsTheEncodersLineAndDecodesToTheView() async throws {
        let (h, nodes) = try await cluster(nodes: 3)
        let (revision, state) = await h.manager.store.current()
        let tables = FeedTables(revision: revision, state: state)
        for node in nodes {
            let view = NodeView.compute(state, nodeID: node)
            let kinds = Set(view.values.map { $0.key.split(separator: "/")[0] })
            #expect(kinds == ["endpoint", "lb", "network", "service", "task"], "\(node): \(kinds)")
            let whole = try encoded(state, node: node, revision: revision, store: "5eed")
            for limit in [1, 300, 4096, Int.max] {
                var cursor = CompleteCursor(
                    revision: revision, store: "5eed", tables: tables.viewTables(of: node))
                var parts: [[UInt8]] = []
                while !cursor.done {
                    parts.append(cursor.nextPart(from: tables.sources(cursor.tables), limit: limit))
                }
                #expect(parts.joined().elementsEqual(whole), "\(node), parts of \(limit) bytes")
                // One line: only the last part ends it.
                #expect(parts.dropLast().allSatisfy { !$0.isEmpty && !$0.contains(UInt8(ascii: "\n")) })
                #expect(parts.last?.last == UInt8(ascii: "\n"))
                if limit == 300 { #expect(parts.count > whole.count / 600, "\(parts.count) parts") }
            }
            // What the agent does with it.
            var decoded = FeedView()
            #expect(decoded.apply(try JSONDecoder().decode(FeedMessage.self, from: Data(whole))) == .applied)
            #expect(decoded.objects == view)
        }
    }

    /// Reads parts until a line ends; nil when the feed ended first.
    func line(_ parts: inout AsyncStream<[UInt8]>.Iterator) async -> [UInt8]? {
        var line: [UInt8] = []
        while let part = await parts.next() {
            line += part
            if part.last == UInt8(ascii: "\n") { return line }
        }
        return nil
    }

    @Test func feedsThatStopReadingMidCompleteHoldOnePartAndBlockNoOne() async throws {
        let (h, nodes) = try await cluster(nodes: 8)
        let feeds = h.manager.feeds
        feeds.partLimit.store(256, ordering: .relaxed)
        let (revision, state) = await h.manager.store.current()
        let identity = await h.manager.store.identity
        // Seven feeds take the first part of their COMPLETE and stop reading.
        var stalled: [(first: [UInt8], rest: AsyncStream<[UInt8]>.Iterator)] = []
        var subscriptions: [FeedSubscription] = []
        defer { for subscription in subscriptions { subscription.cancel() } }
        for node in nodes.dropLast() {
            let subscription = try await h.manager.feed(nodeID: node, since: nil)
            subscriptions.append(subscription)
            var parts = subscription.chunks.makeAsyncIterator()
            let first = try #require(await parts.next())
            #expect(first.starts(with: Array(#"{"objects":["#.utf8)))
            stalled.append((first, parts))
        }
        // The eighth gets its whole COMPLETE meanwhile.
        let reader = try await h.manager.feed(nodeID: nodes[7], since: nil)
        subscriptions.append(reader)
        var readerParts = reader.chunks.makeAsyncIterator()
        let readerLine = try #require(await line(&readerParts))
        #expect(readerLine == (try encoded(state, node: nodes[7], revision: revision, store: identity)))

        // What the feeds hold: one part each, not their views.
        let statistics = feeds.statistics
        let wholeViews = try nodes.dropLast().reduce(0) {
            $0 + (try encoded(state, node: $1, revision: revision, store: identity)).count
        }
        let largestObject =
            NodeView.compute(state, nodeID: nodes[0]).values.map {
                (try? FeedLine.encode(.complete(revision: 0, objects: [$0], store: ""))).map(\.count) ?? 0
            }.max() ?? 0
        #expect(statistics.completesInFlight == 7)
        #expect(statistics.handedOutBytes <= 7 * (256 + largestObject + 16), "\(statistics)")
        #expect(statistics.handedOutBytes * 4 < wholeViews, "\(statistics), views of \(wholeViews) bytes")

        // A change while the COMPLETEs are under way: each feed's COMPLETE and the INCREMENTAL
        // after it add up to the new view.
        try await h.update("web") { $0.replicas = 6 }
        try await h.settle(alive: nodes)
        let (_, after) = await h.manager.store.current()
        for (index, node) in nodes.dropLast().enumerated() {
            var parts = stalled[index].rest
            let rest = try #require(await line(&parts))
            var view = FeedView()
            let complete = try JSONDecoder().decode(FeedMessage.self, from: Data(stalled[index].first + rest))
            #expect(complete.revision == revision)
            #expect(view.apply(complete) == .applied)
            let target = NodeView.compute(after, nodeID: node)
            while view.objects != target, let next = await line(&parts) {
                let message = try JSONDecoder().decode(FeedMessage.self, from: Data(next))
                if message.type == .keepalive { break }
                #expect(view.apply(message) == .applied, "\(node): chain broken")
            }
            #expect(view.objects == target, "\(node)")
        }
        #expect(feeds.statistics.completesInFlight == 0)
    }

    @Test func changesLargerThanTheIncrementalLimitComeAsACompleteInParts() async throws {
        let (h, nodes) = try await cluster(nodes: 3)
        h.manager.feeds.partLimit.store(256, ordering: .relaxed)
        h.manager.feeds.incrementalLimit.store(512, ordering: .relaxed)
        let subscription = try await h.manager.feed(nodeID: nodes[0], since: nil)
        defer { subscription.cancel() }
        var parts = subscription.chunks.makeAsyncIterator()
        var view = FeedView()
        let first = try JSONDecoder().decode(FeedMessage.self, from: Data(try #require(await line(&parts))))
        #expect(first.type == .complete)
        #expect(view.apply(first) == .applied)
        // Three more replicas on every network of n1: more than 512 bytes of changes.
        try await h.update("web") { $0.replicas = 7 }
        try await h.settle(alive: nodes)
        let target = NodeView.compute(await h.state, nodeID: nodes[0])
        var types: [FeedMessage.Kind] = []
        while view.objects != target, let next = await line(&parts) {
            let message = try JSONDecoder().decode(FeedMessage.self, from: Data(next))
            if message.type == .keepalive { break }
            types.append(message.type)
            #expect(view.apply(message) == .applied)
        }
        #expect(view.objects == target)
        #expect(types.contains(.complete), "\(types)")
        // What the feed was last handed: an INCREMENTAL under the limit or one part.
        #expect(h.manager.feeds.statistics.handedOutBytes <= 4096)
    }
}
