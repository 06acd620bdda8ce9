import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// `ClusterState`'s JSON as it was when its maps were `[String: T]` dictionaries.
private struct DictionaryClusterState: Codable, Equatable {
    var nodes: [String: Node]
    var networks: [String: Network]
    var services: [String: Service]
    var tasks: [String: ClusterTask]
    var cursors: AllocatorCursors

    init(_ state: ClusterState) {
        func dictionary<T>(_ map: ObjectMap<T>) -> [String: T] {
            Dictionary(uniqueKeysWithValues: map.map { ($0.key, $0.value) })
        }
        nodes = dictionary(state.nodes)
        networks = dictionary(state.networks)
        services = dictionary(state.services)
        tasks = dictionary(state.tasks)
        cursors = state.cursors
    }
}

/// The store's committed snapshot shares its maps with the working state (a hash trie each), so
/// a write after a commit copies only what it changes: the snapshot must never see it.
@Suite struct SnapshotSharingTests {
    /// Three nodes, a network and a service of six running tasks.
    func cluster() async throws -> Harness {
        let h = try await Harness.make()
        let nodes = try await [
            h.addNode("n1", address: "192.168.0.1"), h.addNode("n2", address: "192.168.0.2"),
            h.addNode("n3", address: "192.168.0.3"),
        ].map(\.id)
        try await h.network(NetworkSpec(name: "net", subnet: cidr("10.5.0.0/24")))
        let web = ServiceSpec(
            name: "web", replicas: 6, command: ["x"], networks: [NetworkAttachment(target: "net")])
        try await h.service(web)
        try await h.settle(alive: nodes)
        #expect(await h.state.running("web").count == 6)
        return h
    }

    @Test func theJSONIsThatOfDictionaries() async throws {
        let state = try await cluster().state
        let legacy = DictionaryClusterState(state)
        #expect(legacy.tasks.count >= 6 && legacy.nodes.count == 3)
        // Stored and served: the same bytes, and each decodes the other.
        let bytes = try StoreCoding.encode(state)
        #expect(bytes == (try StoreCoding.encode(legacy)))
        #expect(try StoreCoding.decode(ClusterState.self, try StoreCoding.encode(legacy)) == state)
        #expect(try StoreCoding.decode(DictionaryClusterState.self, bytes) == legacy)
        // One map alone: a JSON object keyed by id.
        let tasks = try StoreCoding.encode(state.tasks)
        #expect(tasks == (try StoreCoding.encode(legacy.tasks)))
        #expect(try StoreCoding.decode(ObjectMap<ClusterTask>.self, tasks) == state.tasks)
    }

    @Test func aWriteAfterACommitLeavesTheSnapshotAsItWas() async throws {
        let h = try await cluster()
        let (revision, snapshot) = await h.manager.store.current()
        let bytes = try StoreCoding.encode(snapshot)
        let task = try #require(snapshot.running("web").first)
        let removed = try #require(snapshot.running("web").last)
        let (_, next) = try await h.manager.store.write { state in
            state.tasks[task.id]?.status = "changed after the commit"
            state.tasks[removed.id] = nil
            state.nodes["extra"] = Node(id: "extra", name: "extra", address: ip("192.168.0.9"))
        }
        #expect(next == revision + 1)
        // The snapshot taken before is unchanged, byte for byte.
        #expect(try StoreCoding.encode(snapshot) == bytes)
        #expect(snapshot.tasks[task.id]?.status != "changed after the commit")
        #expect(snapshot.tasks[removed.id] != nil && snapshot.nodes["extra"] == nil)
        // The new one has the write and nothing else.
        let now = await h.state
        #expect(now.tasks[task.id]?.status == "changed after the commit")
        #expect(now.tasks[removed.id] == nil && now.nodes["extra"] != nil)
        #expect(now.tasks.count == snapshot.tasks.count - 1)
        #expect(difference(snapshot, now).count == 3)
    }

    @Test func aFailedWriteAfterACommitPutsEverythingBack() async throws {
        let h = try await cluster()
        let (revision, snapshot) = await h.manager.store.current()
        let task = try #require(snapshot.running("web").first)
        await #expect(throws: StoreError.conflict("no")) {
            try await h.manager.store.write { state in
                state.tasks[task.id]?.status = "never stored"
                state.tasks[ObjectID.make()] = task
                state.services[task.serviceID] = nil
                throw StoreError.conflict("no")
            }
        }
        #expect(await h.manager.store.current().revision == revision)
        #expect(await h.state == snapshot)
        // The working state was put back too: the next write starts from the snapshot.
        let (seen, _) = try await h.manager.store.write { state in state }
        #expect(seen == snapshot)
        #expect(await h.keptIndex == ClusterIndex(rebuiltFrom: snapshot))
    }

    @Test func aCopiedMapTracksAndUndoesOnlyItsOwnWrites() {
        var map: ObjectMap<Int> = [:]
        for index in 0..<5_000 { map["id\(index)"] = index }
        map.resetTracking()
        let snapshot = map
        map["id1"] = -1
        map["id2"] = nil
        map["new"] = 7
        map["id3"] = 3  // written with the value it had: no change
        #expect(snapshot["id1"] == 1 && snapshot["id2"] == 2 && snapshot["new"] == nil)
        #expect(snapshot.count == 5_000 && map.count == 5_000)
        #expect(Set(map.touchedIDs) == ["id1", "id2", "new", "id3"])
        #expect(snapshot.touchedIDs.isEmpty)

        var undone = map
        undone.undoTracked()
        #expect(undone == snapshot && undone.touchedIDs.isEmpty)

        let changes = map.takeChanges().sorted { $0.id < $1.id }
        #expect(changes.map(\.id) == ["id1", "id2", "new"])
        #expect(changes.map(\.before) == [1, 2, nil] && changes.map(\.after) == [-1, nil, 7])
        #expect(map != snapshot && map.touchedIDs.isEmpty)
    }
}
