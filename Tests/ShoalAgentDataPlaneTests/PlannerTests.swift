import ShoalAgent
import ShoalModel
import Testing

@Suite struct DesiredNodeTests {
    @Test func networksOnlyWithLocalTasksAndPeersOnlyRemote() {
        let desired = DesiredNode(view: Fixture.view, nodeID: "n1")
        #expect(desired.networks.keys.sorted() == ["blue"])
        let peers = desired.networks["blue"]?.peers.map { "\($0.address)->\($0.mac)@\($0.vtep)" }
        #expect(
            peers == [
                "10.0.1.3->02:42:0a:00:00:03@172.29.0.12", "10.0.1.4->02:42:0a:00:00:04@172.29.0.13",
                "10.0.1.250->02:42:0a:00:00:fa@172.29.0.12",
            ])
        #expect(desired.tasks["t1"]?.attachments.map(\.address) == [Fixture.ip("10.0.1.2")])
        #expect(desired.tasks["t1"]?.attachments.first?.prefixLength == 24)
    }

    @Test func aStoppedTaskKeepsItsNetworkOnlyWhileItsProcessLives() {
        var view = Fixture.view
        view["task/t1"] = Fixture.task("t1", network: "blue", address: "10.0.1.2", mac: 2, state: .shutdown)
        #expect(DesiredNode(view: view, nodeID: "n1").networks.isEmpty)
        #expect(DesiredNode(view: view, nodeID: "n1", liveTasks: ["t1"]).networks.keys.sorted() == ["blue"])
    }
}

@Suite struct OverlayPlannerTests {
    func plan(_ desired: DesiredNode, _ observed: ObservedNode) -> [OverlayOp] {
        OverlayPlanner.plan(
            desired: desired, tasks: desired.tasksNeedingNetwork(liveTasks: []), observed: observed,
            config: Fixture.config)
    }

    @Test func fromNothingInDependencyOrderThenNothingLeft() async throws {
        let desired = DesiredNode(view: Fixture.view, nodeID: "n1")
        let ops = plan(desired, ObservedNode())
        let names = ops.map { op -> String in
            switch op {
            case .ensureNetwork: "ensure"
            case .createTaskNamespace: "taskns"
            case .attach: "attach"
            case .replaceNeighbour: "neigh"
            case .replaceFDB: "fdb"
            case .ensureEgress: "egress"
            case .attachEgress: "gw"
            default: "other"
            }
        }
        #expect(
            names == [
                "ensure", "neigh", "fdb", "neigh", "fdb", "neigh", "fdb", "egress", "taskns", "attach", "gw",
            ])
        let kernel = FakeOverlayKernel(config: Fixture.config)
        for op in ops { try await kernel.apply(op) }
        #expect(plan(desired, await kernel.dump()).isEmpty)
        let state = await kernel.dump()
        #expect(state.networks["blue"]?.fdb["02:42:0a:00:00:04"] == "172.29.0.13")
        #expect(state.networks["blue"]?.neighbours["10.0.1.4"] == "02:42:0a:00:00:04")
    }

    func converged() async throws -> (DesiredNode, ObservedNode) {
        let desired = DesiredNode(view: Fixture.view, nodeID: "n1")
        let kernel = FakeOverlayKernel(config: Fixture.config)
        for op in plan(desired, ObservedNode()) { try await kernel.apply(op) }
        return (desired, await kernel.dump())
    }

    @Test func aHandDeletedFDBEntryIsTheOnlyRepair() async throws {
        var (desired, observed) = try await converged()
        observed.networks["blue"]?.fdb["02:42:0a:00:00:03"] = nil
        let peer = Peer(address: Fixture.ip("10.0.1.3"), mac: Fixture.mac(3), vtep: Fixture.ip("172.29.0.12"))
        #expect(plan(desired, observed) == [.replaceFDB(network: "blue", peer: peer)])
        // A wrong VTEP (a reused MAC moved to another node) is replaced too.
        observed.networks["blue"]?.fdb["02:42:0a:00:00:03"] = "172.29.0.99"
        #expect(plan(desired, observed) == [.replaceFDB(network: "blue", peer: peer)])
        desired.networks["blue"]?.peers.removeAll { $0.mac == Fixture.mac(3) }
        #expect(
            plan(desired, observed) == [
                .deleteFDB(network: "blue", mac: "02:42:0a:00:00:03"),
                .deleteNeighbour(network: "blue", address: "10.0.1.3"),
            ])
    }

    @Test func scaleDownRemovesOnlyThatPeer() async throws {
        let (_, observed) = try await converged()
        var view = Fixture.view
        view["endpoint/blue/t3"] = nil
        let ops = plan(DesiredNode(view: view, nodeID: "n1"), observed)
        #expect(
            ops == [
                .deleteFDB(network: "blue", mac: "02:42:0a:00:00:04"),
                .deleteNeighbour(network: "blue", address: "10.0.1.4"),
            ])
    }

    @Test func aVXLANWithLearningOnIsRecreatedAndItsPeersRewritten() async throws {
        let (desired, converged) = try await converged()
        var observed = converged
        observed.networks["blue"]?.vxlan?.learning = true
        let ops = plan(desired, observed)
        guard case .ensureNetwork(_, let recreate) = ops.first else {
            Issue.record("expected ensureNetwork first, got \(ops)")
            return
        }
        #expect(recreate)
        #expect(ops.filter { if case .replaceFDB = $0 { true } else { false } }.count == 3)
    }

    @Test func aTaskWithAWrongAddressIsReattached() async throws {
        let (desired, converged) = try await converged()
        var observed = converged
        observed.tasks["t1"]?.attachments[0]?.address = Fixture.ip("10.0.1.77")
        let ops = plan(desired, observed)
        #expect(ops.count == 1)
        guard case .attach(let task, let attachment) = ops.first else {
            Issue.record("expected attach, got \(ops)")
            return
        }
        #expect(task == "t1" && attachment.address == Fixture.ip("10.0.1.2"))
    }

    @Test func deletedTaskThenItsNetworkAndStaleObjectsOfDeletedNetworks() async throws {
        var (_, observed) = try await converged()
        observed.networks["gone"] = ObservedNetwork(id: "gone")
        var view = Fixture.view
        view["task/t1"] = nil
        let ops = plan(DesiredNode(view: view, nodeID: "n1"), observed)
        #expect(ops == [.deleteTaskNamespace("t1"), .deleteNetwork("blue"), .deleteNetwork("gone")])
    }

    @Test func hostPortNamesFitIFNAMSIZAndDiffer() {
        let a = KernelNames.hostPort(task: "abc123")
        let b = KernelNames.hostPort(task: "abc124")
        #expect(a.count == 14 && b.count == 14 && a != b)
        #expect(KernelNames.isSafeID("a-b_9") && !KernelNames.isSafeID("../x") && !KernelNames.isSafeID(""))
    }
}

@Suite struct KeepWhileAliveTests {
    @Test func aLiveTaskDroppedFromTheViewKeepsItsNamespaceAndNetwork() async throws {
        let desired = DesiredNode(view: Fixture.view, nodeID: "n1")
        let kernel = FakeOverlayKernel(config: Fixture.config)
        for op in OverlayPlanner.plan(
            desired: desired, tasks: desired.tasksNeedingNetwork(liveTasks: []), observed: ObservedNode(),
            config: Fixture.config)
        {
            try await kernel.apply(op)
        }
        var view = Fixture.view
        view["task/t1"] = nil
        let gone = DesiredNode(view: view, nodeID: "n1")
        let observed = await kernel.dump()
        let whileAlive = OverlayPlanner.plan(
            desired: gone, tasks: [], observed: observed, config: Fixture.config, keep: ["t1"])
        #expect(whileAlive.isEmpty)
        let afterExit = OverlayPlanner.plan(
            desired: gone, tasks: [], observed: observed, config: Fixture.config)
        #expect(afterExit == [.deleteTaskNamespace("t1"), .deleteNetwork("blue")])
    }
}
