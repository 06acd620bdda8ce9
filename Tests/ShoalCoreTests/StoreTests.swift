import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

@Suite struct StoreTests {
    @Test func writesBumpOneRevisionAndStampVersions() async throws {
        let store = try SQLiteStore(directory: nil)
        let (_, r1) = try await store.write { state in
            state.nodes["a"] = Node(id: "a", name: "a", address: ip("192.168.0.1"))
        }
        let (_, r2) = try await store.write { state in
            state.nodes["b"] = Node(id: "b", name: "b", address: ip("192.168.0.2"))
        }
        #expect((r1, r2) == (1, 2))
        let state = store.current().state
        #expect(state.nodes["a"]?.version == 1 && state.nodes["b"]?.version == 2)
        // A write that changes nothing makes no revision.
        let (_, r3) = try await store.write { _ in }
        #expect(r3 == 2)
    }

    @Test func commitsAreSyncedToDisk() async throws {
        let store = try SQLiteStore(directory: temporaryDirectory())
        let level = try await store.synchronousLevel
        #expect(level == 2, "PRAGMA synchronous is \(level)")
    }

    @Test func aFailedWriteStoresNothing() async throws {
        let store = try SQLiteStore(directory: nil)
        await #expect(throws: StoreError.conflict("no")) {
            try await store.write { state in
                state.nodes["a"] = Node(id: "a", name: "a", address: ip("192.168.0.1"))
                throw StoreError.conflict("no")
            }
        }
        let (revision, state) = store.current()
        #expect(revision == 0 && state.nodes.isEmpty)
    }

    /// Writes are made durable off the store's actor, while later writes apply on top of them: when
    /// a commit fails, its writers and every write applied after it (built on it) fail, the state
    /// goes back to the last durable commit, and the store takes writes again.
    @Test func aFailedCommitFailsTheWritesBuiltOnItAndStoresNothingOfThem() async throws {
        let directory = temporaryDirectory()
        let store = try SQLiteStore(directory: directory)
        let node: @Sendable (String, UInt8) -> Node = { id, last in
            Node(id: id, name: id, address: ip("192.168.0.\(last)"))
        }
        try await store.write { $0.nodes["a"] = node("a", 1) }
        try await store.executeForTests(
            """
            CREATE TRIGGER poison BEFORE INSERT ON changes WHEN NEW.id = 'poison'
            BEGIN SELECT RAISE(ABORT, 'poisoned'); END
            """)
        // "b" is written only on top of "poison": applied before that commit failed, it fails with
        // it; applied after, it finds no "poison".
        let poisoned = Task { try await store.write { $0.nodes["poison"] = node("poison", 2) } }
        let built = Task {
            try await store.write { state in
                guard state.nodes["poison"] != nil else { throw StoreError.conflict("no poison") }
                state.nodes["b"] = node("b", 3)
            }
        }
        await #expect(throws: StoreError.self) { try await poisoned.value }
        await #expect(throws: StoreError.self) { try await built.value }
        let (revision, state) = store.current()
        #expect(revision == 1 && state.nodes.keys.sorted() == ["a"])
        let (_, next) = try await store.write { $0.nodes["c"] = node("c", 4) }
        #expect(next == 2)
        #expect(store.current().state.nodes.keys.sorted() == ["a", "c"])
        // What is on disk agrees: reopened, the store holds "a" and "c" at revision 2.
        let reopened = try SQLiteStore(directory: directory)
        let (diskRevision, disk) = reopened.current()
        #expect(diskRevision == 2 && disk.nodes.keys.sorted() == ["a", "c"])
        #expect(try await reopened.changes(after: 0)?.map(\.id) == ["a", "c"])
    }

    /// A group of writes is logged as one change per object, from before the group to after it.
    @Test func aGroupIsLoggedAsOneChangePerObject() {
        let node: (String, UInt8) -> StoredObject = { id, last in
            .node(Node(id: id, name: id, address: ip("192.168.0.\(last)")))
        }
        func change(_ revision: UInt64, _ id: String, _ before: StoredObject?, _ after: StoredObject?)
            -> PendingChange
        {
            PendingChange(revision: revision, kind: .node, id: id, before: before, after: after)
        }
        let entries = [
            CommitWriter.Entry(
                changes: [change(4, "a", node("a", 1), node("a", 2)), change(4, "b", nil, node("b", 1))],
                revision: 4, state: ClusterState()),
            CommitWriter.Entry(
                changes: [change(5, "a", node("a", 2), node("a", 3)), change(5, "b", node("b", 1), nil)],
                revision: 5, state: ClusterState()),
            CommitWriter.Entry(
                changes: [change(6, "c", nil, node("c", 1))], revision: 6, state: ClusterState()),
        ]
        let merged = CommitWriter.coalesced(entries)
        // "b" came and went inside the group: nothing to log.
        #expect(merged.map(\.id) == ["a", "c"])
        #expect(merged.allSatisfy { $0.revision == 6 })
        guard case .node(let before) = merged[0].before, case .node(let after) = merged[0].after else {
            Issue.record("a's change lost a side: \(merged[0])")
            return
        }
        #expect(before.address == ip("192.168.0.1") && after.address == ip("192.168.0.3"))
    }

    /// Writes that arrive together share a commit; every revision the log can rebuild is rebuilt
    /// right, and one inside a group is refused (never published, so no feed resumes from it).
    @Test func concurrentWritesRebuildAtEveryGroupBoundary() async throws {
        let store = try SQLiteStore(directory: temporaryDirectory())
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    _ = try? await store.write { state in
                        let id = "n\(index)"
                        state.nodes[id] = Node(id: id, name: id, address: ip("10.0.0.\(index + 1)"))
                    }
                }
            }
        }
        let (revision, state) = store.current()
        #expect(revision == 40 && state.nodes.count == 40)
        var rebuilt = 0
        for since in UInt64(0)..<40 {
            guard let old = try await store.state(at: since) else { continue }
            rebuilt += 1
            // Each write added one node, at the revision it made.
            #expect(old.nodes.count == Int(since), "at \(since)")
            #expect(old.nodes.values.allSatisfy { $0.version <= since }, "at \(since)")
        }
        #expect(rebuilt >= 1)
    }

    @Test func staleVersionIsAConflictNotAnOverwrite() async throws {
        let h = try await Harness.make()
        let service = try await h.service(ServiceSpec(name: "web", replicas: 1, command: ["x"]))
        let stale = service.version
        try await h.update("web") { $0.replicas = 2 }
        var spec = service.spec
        spec.replicas = 5
        let config = h.manager.config.allocator
        let request = spec
        await #expect(throws: StoreError.self) {
            try await h.manager.apply { state in
                try Operations.updateService(
                    "web", version: stale, spec: request, state: &state, config: config)
            }
        }
        #expect(await h.state.service(named: "web")?.spec.replicas == 2)
    }

    @Test func changeLogRebuildsOlderStatesUntilCompacted() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(directory: directory)
        for index in 1...5 {
            try await store.write { state in
                state.nodes["n\(index)"] = Node(
                    id: "n\(index)", name: "n\(index)", address: ip("192.168.0.\(index)"))
            }
        }
        try await store.write { state in state.nodes["n1"] = nil }
        let old = try #require(try await store.state(at: 3))
        #expect(old.nodes.keys.sorted() == ["n1", "n2", "n3"])
        #expect(try await store.changes(after: 4)?.map(\.revision) == [5, 6])

        try await store.compact(keepingLast: 2)
        #expect(try await store.changes(after: 3) == nil)
        #expect(try await store.state(at: 3) == nil)
        #expect(try await store.state(at: 4)?.nodes.keys.sorted() == ["n1", "n2", "n3", "n4"])

        // Reopened: same revision, same objects, same compaction point.
        let reopened = try SQLiteStore(directory: directory)
        let (revision, state) = reopened.current()
        #expect(revision == 6)
        #expect(state == store.current().state)
        #expect(try await reopened.changes(after: 3) == nil)
        #expect(try await reopened.changes(after: 4)?.count == 2)
    }

    @Test func retentionLimitCompactsAutomatically() async throws {
        let store = try SQLiteStore(directory: nil, retainedRevisions: 3)
        for index in 1...6 {
            try await store.write { state in
                state.nodes["n\(index)"] = Node(
                    id: "n\(index)", name: "n\(index)", address: ip("192.168.0.\(index)"))
            }
        }
        #expect(try await store.changes(after: 2) == nil)
        #expect(try await store.changes(after: 3)?.map(\.revision) == [4, 5, 6])
    }
}
