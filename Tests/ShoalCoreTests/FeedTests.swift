import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Reads feed messages, skipping keep-alives, with a bound so a missing message fails instead of hanging.
struct FeedReader {
    var iterator: AsyncStream<FeedMessage>.Iterator

    init(_ subscription: FeedSubscription) { iterator = subscription.messages.makeAsyncIterator() }

    mutating func next(keepalives: Int = 15) async -> FeedMessage? {
        for _ in 0...keepalives {
            guard let message = await iterator.next() else { return nil }
            if message.type != .keepalive { return message }
        }
        return nil
    }

    /// The next message, keep-alives included.
    mutating func raw() async -> FeedMessage? { await iterator.next() }
}

@Suite struct FeedTests {
    func cluster() async throws -> (Harness, [String]) {
        let h = try await Harness.make()
        var nodes: [String] = []
        for index in 1...2 {
            nodes.append(try await h.addNode("n\(index)", address: "192.168.0.\(index)").id)
        }
        try await h.network(NetworkSpec(name: "net"))
        try await h.service(
            ServiceSpec(
                name: "web", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: nodes)
        return (h, nodes)
    }

    @Test func completeThenIncrementalsThatTrackTheNodesView() async throws {
        let (h, nodes) = try await cluster()
        var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: nil))
        var view = FeedView()
        let first = try #require(await reader.next())
        #expect(first.type == .complete)
        #expect(view.apply(first) == .applied)
        let (revision, state) = await h.manager.store.current()
        #expect(first.revision == revision)
        #expect(view.objects == NodeView.compute(state, nodeID: nodes[0]))
        let net = try #require(state.network(named: "net"))
        // Network-scoped: both endpoints on net (one is on the other node), the VIP and both load balancers.
        let endpoints = view.objects.values.compactMap { if case .endpoint(let e) = $0 { e } else { nil } }
        #expect(endpoints.filter { $0.networkID == net.id }.count == 2)
        #expect(Set(endpoints.map(\.nodeID)) == Set(nodes))
        #expect(endpoints.allSatisfy { $0.state == .up })
        let services = view.objects.values.compactMap { if case .service(let s) = $0 { s } else { nil } }
        #expect(services.first { $0.networkID == net.id }?.virtualIP != nil)
        let tasks = view.objects.values.compactMap { if case .task(let t) = $0 { t } else { nil } }
        #expect(tasks.count == 1)

        try await h.update("web") { $0.replicas = 4 }
        try await h.settle(alive: nodes)
        // Apply what arrives until the view matches the manager's state (keep-alives end the wait).
        let target = NodeView.compute(await h.state, nodeID: nodes[0])
        var applied = 0
        while view.objects != target, let message = await reader.next(keepalives: 3) {
            #expect(message.type == .incremental)
            #expect(view.apply(message) == .applied, "chain broken at \(message.from ?? 0)")
            applied += 1
        }
        #expect(applied > 0)
        #expect(view.objects == target)
        #expect(view.objects.values.filter { if case .endpoint = $0 { true } else { false } }.count == 4)
        #expect(view.revision ?? 0 > first.revision ?? 0)
    }

    /// A scale down reaches every feed in two steps: the leaving endpoints as `draining` (weight 0
    /// on every node) at the update's commit, and only after the drain period gone.
    @Test func aScaleDownSendsTheLeavingEndpointsAsDrainingFirst() async throws {
        let (h, nodes) = try await cluster()
        try await h.update("web") { $0.replicas = 4 }
        try await h.settle(alive: nodes)
        var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: nil))
        var view = FeedView()
        #expect(view.apply(try #require(await reader.next())) == .applied)
        func endpoints() -> [String: EndpointState] {
            var states: [String: EndpointState] = [:]
            for case .endpoint(let e) in view.objects.values { states[e.taskID] = e.state }
            return states
        }
        #expect(endpoints().count == 4)
        #expect(endpoints().values.allSatisfy { $0 == .up })
        try await h.update("web") { $0.replicas = 1 }
        let message = try #require(await reader.next())
        #expect(view.apply(message) == .applied)
        let states = endpoints()
        #expect(states.count == 4, "the leaving endpoints are still in the view: \(states)")
        #expect(states.values.filter { $0 == .draining }.count == 3, "\(states)")
        #expect(states.values.filter { $0 == .up }.count == 1, "\(states)")
        // Past the drain period the leaving tasks are told to stop and their endpoints go.
        try await h.settle(alive: nodes)
        while endpoints().count > 1, let message = await reader.next(keepalives: 3) {
            #expect(view.apply(message) == .applied)
        }
        // Only the task that stays is left, up; or nothing, when it runs elsewhere and this node
        // had only leaving tasks (it left the network).
        let staying = Set(await h.state.running("web").map(\.id))
        #expect(staying.count == 1)
        #expect(Set(endpoints().keys).isSubset(of: staying), "\(endpoints())")
        #expect(endpoints().values.allSatisfy { $0 == .up }, "\(endpoints())")
    }

    @Test func changesOutsideTheViewAreNotSent() async throws {
        let (h, nodes) = try await cluster()
        var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: nil))
        let first = try #require(await reader.next())
        // A network nobody on n1 uses and a service that is not on n1's networks.
        try await h.network(NetworkSpec(name: "other"))
        let state = await h.state
        let before = NodeView.compute(state, nodeID: nodes[0])
        #expect(before == NodeView.compute(await h.state, nodeID: nodes[0]))
        // The next lines are keep-alives at the revision of the COMPLETE.
        for _ in 0..<2 {
            let line = try #require(await reader.raw())
            #expect(line.type == .keepalive)
            #expect(line.revision == first.revision)
        }
    }

    @Test func resumeSendsOnlyTheMissedChanges() async throws {
        let (h, nodes) = try await cluster()
        var view = FeedView()
        do {
            var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: nil))
            _ = view.apply(try #require(await reader.next()))
        }
        let old = try #require(view.revision)
        try await h.service(
            ServiceSpec(
                name: "api", replicas: 2, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: nodes)
        var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: old, store: view.store))
        let message = try #require(await reader.next())
        #expect(message.type == .incremental)
        #expect(message.from == old)
        let state = await h.state
        #expect(view.apply(message) == .applied)
        #expect(view.objects == NodeView.compute(state, nodeID: nodes[0]))
        #expect(
            view.objects.keys.contains {
                $0.hasPrefix("service/")
                    && view.objects[$0].map {
                        if case .service(let s) = $0 { s.serviceName == "api" } else { false }
                    } == true
            })
    }

    @Test func sinceOlderThanTheLogOrFromTheFutureGivesAComplete() async throws {
        let (h, nodes) = try await cluster()
        let revision = await h.manager.store.current().revision
        try await h.manager.store.compact(keepingLast: 0)
        try await h.service(
            ServiceSpec(name: "api", command: ["x"], networks: [NetworkAttachment(target: "net")]))
        let identity = await h.manager.store.identity
        var reader = FeedReader(
            try await h.manager.feed(nodeID: nodes[0], since: revision - 1, store: identity))
        let message = try #require(await reader.next())
        #expect(message.type == .complete)
        #expect(message.revision == (await h.manager.store.current().revision))
        var future = FeedReader(
            try await h.manager.feed(nodeID: nodes[0], since: revision + 1000, store: identity))
        #expect(await future.next()?.type == .complete)
    }

    @Test func aGapIsSeenByTheAgent() {
        var view = FeedView()
        #expect(view.apply(.complete(revision: 10, objects: [])) == .applied)
        #expect(view.apply(.incremental(from: 10, to: 12, changes: [])) == .applied)
        #expect(view.apply(.incremental(from: 13, to: 15, changes: [])) == .gap(expected: 12, got: 13))
        #expect(view.revision == 12)
        var fresh = FeedView()
        #expect(fresh.apply(.incremental(from: 1, to: 2, changes: [])) == .gap(expected: 0, got: 1))
        // Revisions of another store's history do not chain, whatever their numbers.
        var restored = FeedView()
        #expect(restored.apply(.complete(revision: 10, objects: [], store: "a")) == .applied)
        #expect(restored.resumeQuery == "since=10&store=a")
        #expect(
            restored.apply(.incremental(from: 10, to: 11, changes: [], store: "b"))
                == .gap(expected: 10, got: 10))
    }

    /// A store restored from a backup (or reset) may pass the agent's revision with another history:
    /// resuming there must not send an INCREMENTAL.
    @Test func resumingAgainstAnotherStoresHistoryGivesAComplete() async throws {
        let (h, nodes) = try await cluster()
        var view = FeedView()
        do {
            var reader = FeedReader(try await h.manager.feed(nodeID: nodes[0], since: nil))
            _ = view.apply(try #require(await reader.next()))
        }
        let since = try #require(view.revision)
        #expect(view.store == (await h.manager.store.identity))

        // Another store, with the same node, whose revisions have passed the agent's.
        let other = try await Harness.make()
        _ = try await other.manager.register(
            NodeRegistration(id: nodes[0], name: "n1", address: ip("192.168.0.1")))
        var index = 0
        while await other.manager.store.current().revision <= since {
            try await other.network(NetworkSpec(name: "pad\(index)"))
            index += 1
        }
        #expect(await other.manager.store.identity != view.store)
        var reader = FeedReader(
            try await other.manager.feed(nodeID: nodes[0], since: since, store: view.store))
        let message = try #require(await reader.next())
        #expect(message.type == .complete)
        #expect(message.store == (await other.manager.store.identity))
        #expect(view.apply(message) == .applied)
        #expect(view.objects == NodeView.compute(await other.state, nodeID: nodes[0]))
    }

    @Test func aNodeJoiningLateGetsEveryEndpointOfItsNetworks() async throws {
        let (h, nodes) = try await cluster()
        try await h.service(
            ServiceSpec(
                name: "mon", mode: .global, command: ["x"], networks: [NetworkAttachment(target: "net")]))
        try await h.settle(alive: nodes)
        let late = try await h.addNode("n3", address: "192.168.0.3").id
        try await h.settle(alive: nodes + [late])
        var reader = FeedReader(try await h.manager.feed(nodeID: late, since: nil))
        var view = FeedView()
        #expect(view.apply(try #require(await reader.next())) == .applied)
        let state = await h.state
        let net = try #require(state.network(named: "net"))
        let endpoints = view.objects.values.compactMap {
            if case .endpoint(let e) = $0, e.networkID == net.id { e } else { nil }
        }
        // web x2 on n1/n2, mon x3 on every node.
        #expect(endpoints.count == 5)
        #expect(Set(endpoints.map(\.nodeID)) == Set(nodes + [late]))
        let lbs = view.objects.values.compactMap {
            if case .loadBalancer(let lb) = $0, lb.networkID == net.id { lb } else { nil }
        }
        #expect(Set(lbs.map(\.nodeID)) == Set(nodes + [late]))
        #expect(
            view.objects.values.contains {
                if case .network(let n) = $0 { n.id == net.id && n.loadBalancerIP != nil } else { false }
            })
    }

    @Test(.timeLimit(.minutes(1))) func aRemovedNodesFeedEmptiesItsViewAndEnds() async throws {
        let (h, nodes) = try await cluster()
        var reader = FeedReader(try await h.manager.feed(nodeID: nodes[1], since: nil))
        var view = FeedView()
        #expect(view.apply(try #require(await reader.next())) == .applied)
        #expect(!view.objects.isEmpty)
        try await h.manager.apply { state in try Operations.removeNode(nodes[1], force: true, state: &state) }
        while let message = await reader.raw() { _ = view.apply(message) }
        #expect(view.objects.isEmpty)
    }

    @Test func unknownNodeHasNoFeed() async throws {
        let h = try await Harness.make()
        await #expect(throws: StoreError.notFound("no node nope")) {
            _ = try await h.manager.feed(nodeID: "nope", since: nil)
        }
    }

    @Test func feedMessagesRoundTripAsJSON() throws {
        let object = FeedObject.endpoint(
            FeedEndpoint(
                networkID: "n", taskID: "t", taskName: "web.1.t", serviceID: "s", serviceName: "web",
                aliases: [],
                address: ip("10.0.1.3"), mac: MACAddress(derivedFrom: ip("10.0.1.3")), nodeID: "x",
                nodeAddress: ip("192.168.0.1"), state: .draining))
        let message = FeedMessage.incremental(from: 3, to: 5, changes: [.upsert(object), .remove("task/t")])
        let data = try JSONEncoder().encode(message)
        #expect(try JSONDecoder().decode(FeedMessage.self, from: data) == message)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"kind\":\"endpoint\""))
    }

    /// Lines are assembled from stored object bytes, not encoded per feed: they must be byte for
    /// byte what the encoder makes of the same message.
    @Test func assembledLinesAreWhatTheEncoderMakes() throws {
        let endpoint = FeedObject.endpoint(
            FeedEndpoint(
                networkID: "n", taskID: "t", taskName: "web.1.t", serviceID: "s", serviceName: "web",
                aliases: ["w\"x"], address: ip("10.0.1.3"), mac: MACAddress(derivedFrom: ip("10.0.1.3")),
                nodeID: "x", nodeAddress: ip("192.168.0.1"), state: .up))
        let task = FeedObject.task(
            FeedTask(
                id: "t", name: "web.1.t", serviceID: "s", serviceName: "web", slot: 1, desiredState: .running,
                spec: TaskSpec(command: ["sh", "-c", "echo /a"]), endpoints: []))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let endpointBytes = Array(try encoder.encode(endpoint))
        let taskBytes = Array(try encoder.encode(task))

        let incremental = FeedBytes.incremental(
            from: 3, to: 5, changes: [endpoint.key: endpointBytes, "task/old": nil, task.key: taskBytes],
            store: "5eed")
        let expected = FeedMessage.incremental(
            from: 3, to: 5, changes: [.remove("task/old"), .upsert(endpoint), .upsert(task)], store: "5eed")
        #expect(incremental == (try FeedLine.encode(expected)))

        let complete = FeedBytes.complete(
            revision: 9, parts: [[task.key: taskBytes], [endpoint.key: endpointBytes]], store: "5eed")
        #expect(
            complete
                == (try FeedLine.encode(.complete(revision: 9, objects: [endpoint, task], store: "5eed"))))
        #expect(
            FeedBytes.keepalive(revision: 9, store: "5eed")
                == (try FeedLine.encode(.keepalive(revision: 9, store: "5eed"))))
    }
}
