import ShoalModel
import Testing

@testable import ShoalDNS

/// The record table kept up to date change by change must equal one built from the whole view,
/// after every kind of change the feed makes.
@Suite struct IncrementalTableTests {
    typealias View = [String: FeedObject]

    func mutate(_ view: inout View, _ key: String, _ change: (inout FeedObject) -> Void) throws {
        var object = try #require(view[key], "no \(key) in the view")
        change(&object)
        view[key] = object
    }

    @Test func everyChangeGivesTheSameTableAsABuildFromScratch() throws {
        var view = Dictionary(uniqueKeysWithValues: try labView().map { ($0.key, $0) })
        var table = DNSRecordTable(view: Array(view.values))
        var steps: [(String, (inout View) throws -> Void)] = []
        steps.append(("an endpoint goes", { $0["endpoint/front/w2"] = nil }))
        steps.append(
            (
                "an endpoint comes",
                { view in
                    guard case .endpoint(var endpoint)? = view["endpoint/front/w1"] else { return }
                    endpoint.taskID = "w9"
                    endpoint.taskName = "web.w9"
                    endpoint.address = IPv4Address(0x0a0a_0063)
                    view["endpoint/front/w9"] = .endpoint(endpoint)
                }
            ))
        steps.append(
            (
                "an endpoint drains",
                { view in
                    try self.mutate(&view, "endpoint/front/w1") {
                        if case .endpoint(var e) = $0 {
                            e.state = .draining
                            $0 = .endpoint(e)
                        }
                    }
                }
            ))
        steps.append(
            (
                "a draining endpoint comes back up",
                { view in
                    try self.mutate(&view, "endpoint/front/w3") {
                        if case .endpoint(var e) = $0 {
                            e.state = .up
                            $0 = .endpoint(e)
                        }
                    }
                }
            ))
        steps.append(
            (
                "service aliases change, copied onto its endpoints",
                { view in
                    try self.mutate(&view, "service/front/s-web") {
                        if case .service(var s) = $0 {
                            s.aliases = ["web-primary", "front-door"]
                            s.exposed = [ExposedPort(name: "metrics", target: 9100)]
                            $0 = .service(s)
                        }
                    }
                }
            ))
        steps.append(("a dnsrr endpoint goes", { $0["endpoint/back/d1"] = nil }))
        steps.append(
            (
                "a VIP changes",
                { view in
                    try self.mutate(&view, "service/front/s-api") {
                        if case .service(var s) = $0 {
                            s.virtualIP = IPv4Address(0x0a0a_0009)
                            $0 = .service(s)
                        }
                    }
                }
            ))
        steps.append(
            (
                "a network is renamed",
                { view in
                    try self.mutate(&view, "network/back") {
                        if case .network(var n) = $0 {
                            n.name = "rear"
                            $0 = .network(n)
                        }
                    }
                }
            ))
        steps.append(
            (
                "a task leaves a network",
                { view in
                    try self.mutate(&view, "task/t-both") {
                        if case .task(var t) = $0 {
                            t.endpoints.removeLast()
                            $0 = .task(t)
                        }
                    }
                }
            ))
        steps.append(
            (
                "a service goes with its endpoints",
                { view in
                    view["service/back/s-db"] = nil
                    view["endpoint/back/d2"] = nil
                }
            ))
        steps.append(
            (
                "a network goes",
                { view in
                    for key in view.keys where key.hasPrefix("network/back") || key.contains("/back/") {
                        view[key] = nil
                    }
                }
            ))
        for (what, step) in steps {
            let before = view
            try step(&view)
            var changes: [(old: FeedObject?, new: FeedObject?)] = []
            for (key, object) in view where before[key] != object { changes.append((before[key], object)) }
            for (key, object) in before where view[key] == nil { changes.append((object, nil)) }
            #expect(!changes.isEmpty, "\(what) changed nothing")
            table.apply(changes)
            #expect(table.canonical() == DNSRecordTable(view: Array(view.values)).canonical(), "\(what)")
        }
    }

    @Test func theStoreFollowsViewsInPlaceAndAnswers() throws {
        let view = Dictionary(uniqueKeysWithValues: try labView().map { ($0.key, $0) })
        let store = DNSRecordStore()
        #expect(store.follow(from: [:], to: view) == view.count)
        var next = view
        next["endpoint/front/w2"] = nil
        #expect(store.follow(from: view, to: next) == 1)
        let processor = QueryProcessor(records: store, forwarder: nil)
        var rng = ShuffleRNG()
        let reply = processor.process(
            try makeQuery("tasks.web", .a), scope: .task("t-cf"), overUDP: true, allocator: .init(),
            rng: &rng,
            deliver: { _ in })
        #expect(addresses(try reply.map { try DNSMessage(bytes: $0) }) == ["10.10.0.11"])
    }
}
