import Foundation
import ShoalAgent
import ShoalModel
import Testing

@Suite struct DataPlaneTests {
    func make() throws -> (DataPlane, FakeOverlayKernel) {
        let kernel = FakeOverlayKernel(config: Fixture.config)
        let directory = NSTemporaryDirectory() + "shoal-dp-\(UUID().uuidString)"
        let supervisor = TaskSupervisor(
            dataDir: directory, namespaces: NamespaceFiles(runDirectory: directory), settings: .init(),
            report: { _, _, _ in })
        let plane = DataPlane(nodeID: "n1", kernel: kernel, supervisor: supervisor, config: Fixture.config)
        return (plane, kernel)
    }

    @Test func nothingIsTouchedBeforeTheFirstView() async throws {
        let (plane, kernel) = try make()
        await kernel.mutate { $0.networks["old"] = ObservedNetwork(id: "old") }
        #expect(await plane.reconcile() == nil)
        #expect(await kernel.applied.isEmpty)
        #expect(await kernel.dump().networks["old"] != nil)
    }

    @Test func adoptsWhatIsRightAndRemovesWhatIsStale() async throws {
        let (plane, kernel) = try make()
        await plane.update(view: Fixture.view, revision: 5)
        await plane.reconcile()
        let first = await kernel.dump()
        // A restarted agent: same kernel, fresh data plane, plus a stale network left behind.
        await kernel.mutate { $0.networks["old"] = ObservedNetwork(id: "old") }
        await kernel.clearLog()
        let supervisor = TaskSupervisor(
            dataDir: NSTemporaryDirectory() + "shoal-dp-\(UUID().uuidString)",
            namespaces: NamespaceFiles(runDirectory: "/nonexistent"), settings: .init(),
            report: { _, _, _ in })
        let restarted = DataPlane(
            nodeID: "n1", kernel: kernel, supervisor: supervisor, config: Fixture.config)
        await restarted.update(view: Fixture.view, revision: 5)
        await restarted.reconcile()
        #expect(await kernel.applied == [.deleteNetwork("old")])
        #expect(await kernel.dump() == first)
    }

    @Test func aFailedOpIsRetriedAfterADumpAndReported() async throws {
        let (plane, kernel) = try make()
        await kernel.failNext { if case .replaceFDB = $0 { true } else { false } }
        await plane.update(view: Fixture.view, revision: 5)
        let retry = await plane.reconcile()
        #expect(retry != nil && (retry ?? 0) <= 30)
        #expect(
            await plane.snapshot.lastErrors.contains {
                $0.contains("injected failure") && $0.contains("errno 16")
            })
        #expect(await kernel.dump().networks["blue"]?.fdb.count == 2)
        #expect(await plane.reconcile() == nil)
        #expect(await kernel.dump().networks["blue"]?.fdb.count == 3)
    }

    @Test func driftIsRepairedOnlyAtTheNextDump() async throws {
        let (plane, kernel) = try make()
        await plane.update(view: Fixture.view, revision: 5)
        await plane.reconcile()
        await kernel.mutate { $0.networks["blue"]?.fdb["02:42:0a:00:00:03"] = nil }
        await kernel.clearLog()
        // Between dumps the applied mirror is trusted: nothing to do.
        await plane.reconcile()
        #expect(await kernel.applied.isEmpty)
        await plane.requestResync()
        await plane.reconcile()
        let peer = Peer(address: Fixture.ip("10.0.1.3"), mac: Fixture.mac(3), vtep: Fixture.ip("172.29.0.12"))
        #expect(await kernel.applied == [.replaceFDB(network: "blue", peer: peer)])
    }
}
