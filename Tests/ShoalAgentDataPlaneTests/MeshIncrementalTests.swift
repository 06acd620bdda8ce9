import Glibc
import ShoalModel
import Testing

@testable import ShoalAgent

/// The mesh between dumps: the desired state followed by changed view keys, passes that plan only
/// what a change touches, and failed ops matched to their op and repaired.
@Suite struct MeshIncrementalTests {
    static let networks: Set<String> = ["blue", "ing"]
    static let egress = ["h1": Fixture.ip("172.31.0.2")]

    /// The web fixture (network blue) and the ingress fixture (published port, host-mode task).
    static var view: [String: FeedObject] {
        MeshFixture.view.merging(IngressPlannerTests.view) { first, _ in first }
    }

    static func endpoint(_ task: String, service: String, address: String, state: EndpointState = .up)
        -> FeedObject
    {
        .endpoint(
            FeedEndpoint(
                networkID: "blue", taskID: task, taskName: "\(service).1.\(task)", serviceID: service,
                serviceName: service, aliases: [], address: Fixture.ip(address), mac: Fixture.mac(99),
                nodeID: "n2", nodeAddress: Fixture.ip("172.29.0.12"), state: state))
    }

    /// One change to the view: the keys it touches and the new view.
    typealias Change = (name: String, apply: @Sendable (inout [String: FeedObject]) -> Void)

    static let changes: [Change] = [
        ("an endpoint leaves", { MeshFixture.endpoint(&$0, "t3", nil) }),
        ("an endpoint drains", { MeshFixture.endpoint(&$0, "t2", .draining) }),
        (
            "an endpoint joins",
            {
                $0["endpoint/blue/t9"] = MeshIncrementalTests.endpoint(
                    "t9", service: "s1", address: "10.0.1.9")
            }
        ),
        (
            "a service comes with a task",
            {
                $0["service/blue/s2"] = MeshFixture.service("s2", vip: Fixture.ip("10.0.1.101"))
                $0["endpoint/blue/t8"] = MeshIncrementalTests.endpoint(
                    "t8", service: "s2", address: "10.0.1.8")
            }
        ),
        ("a scheduler changes", { $0["service/blue/s1"] = MeshFixture.service("s1", scheduler: .wrr) }),
        ("a service goes, its task stays", { $0["service/blue/s2"] = nil }),
        (
            "a published port goes",
            {
                guard case .service(var service) = $0["service/ing/p1"] else { return }
                service.ports = []
                $0["service/ing/p1"] = .service(service)
            }
        ),
        (
            "the host-mode task stops",
            {
                guard case .task(var task) = $0["task/h1"] else { return }
                task.desiredState = .shutdown
                $0["task/h1"] = .task(task)
            }
        ),
    ]

    /// Keys whose object differs between two views.
    static func changed(_ old: [String: FeedObject], _ new: [String: FeedObject]) -> Set<String> {
        Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }
    }

    @Test func followingChangedKeysGivesWhatAFullBuildGives() {
        var view = Self.view
        var tracker = MeshDesiredTracker(egressSubnet: OverlayConfig.defaultEgressSubnet)
        tracker.rebuild(view: view, networks: Self.networks, egress: Self.egress)
        #expect(tracker.mesh == DesiredMesh(view: view, networks: Self.networks, egress: Self.egress))
        for change in Self.changes {
            let old = view
            change.apply(&view)
            let keys = Self.changed(old, view)
            #expect(!keys.isEmpty, "\(change.name)")
            let scope = tracker.follow(
                view: view, changed: keys, networks: Self.networks, egress: Self.egress)
            #expect(scope != nil, "\(change.name)")
            #expect(
                tracker.mesh == DesiredMesh(view: view, networks: Self.networks, egress: Self.egress),
                "\(change.name)")
        }
        // A network object or the set of namespaces changing needs a full build.
        #expect(
            tracker.follow(view: view, changed: ["network/blue"], networks: Self.networks, egress: [:]) == nil
        )
        #expect(tracker.follow(view: view, changed: [], networks: ["blue"], egress: [:]) == nil)
    }

    @Test func aScopeNamesOnlyWhatAChangeTouches() {
        var view = Self.view
        var tracker = MeshDesiredTracker(egressSubnet: OverlayConfig.defaultEgressSubnet)
        tracker.rebuild(view: view, networks: Self.networks, egress: Self.egress)
        MeshFixture.endpoint(&view, "t3", nil)
        let scope = tracker.follow(
            view: view, changed: ["endpoint/blue/t3"], networks: Self.networks, egress: Self.egress)
        var expected = MeshScope()
        expected.services["blue"] = [MeshFixture.webMark]
        #expect(scope == expected)
        // A new VIP changes the namespace's nft table and addresses too.
        view["service/blue/s2"] = MeshFixture.service("s2", vip: Fixture.ip("10.0.1.101"))
        let added = tracker.follow(
            view: view, changed: ["service/blue/s2"], networks: Self.networks, egress: Self.egress)
        #expect(added?.balancers == ["blue"])
        #expect(added?.hostPorts == false)
    }

    /// 50 services x 5 tasks, then changes: a reconciler told the changed keys sends what one
    /// planning everything sends, and ends with the same kernel.
    @Test func scopedPassesMatchFullPasses() async {
        var view = MeshFixture.view
        for index in 0..<50 {
            let id = "v\(index)"
            let vip = IPv4Address(Fixture.ip("10.0.1.130").value + UInt32(index))
            view["service/blue/\(id)"] = MeshFixture.service(id, vip: vip)
            for task in 0..<5 {
                let address = IPv4Address(Fixture.ip("10.0.3.0").value + UInt32(index * 5 + task))
                view["endpoint/blue/\(id)t\(task)"] = Self.endpoint(
                    "\(id)t\(task)", service: id, address: "\(address)")
            }
        }
        let scopedKernel = FakeMeshKernel()
        let fullKernel = FakeMeshKernel()
        let scoped = MeshReconciler(kernel: scopedKernel, graceSeconds: 0)
        let full = MeshReconciler(kernel: fullKernel, graceSeconds: 0)
        _ = await scoped.reconcile(view: view, networks: ["blue"], resync: true, now: 0)
        _ = await full.reconcile(view: view, networks: ["blue"], resync: true, now: 0)
        var now = 1.0
        for change in Self.changes.prefix(6) {
            let old = view
            change.apply(&view)
            let keys = Self.changed(old, view)
            let a = await scoped.reconcile(
                view: view, changed: keys, networks: ["blue"], resync: false, now: now)
            let b = await full.reconcile(view: view, networks: ["blue"], resync: false, now: now)
            #expect(a.ops == b.ops, "\(change.name)")
            now += 1
        }
        #expect(await scopedKernel.state == fullKernel.state)
    }

    @Test func oneFailedOpLosesNoOtherAndIsRepairedByTheNextPass() async {
        let kernel = FakeMeshKernel()
        let mesh = MeshReconciler(kernel: kernel)
        let failing = MeshOp.addDestination(MeshFixture.key("10.0.1.3"), weight: 1)
        await kernel.fail(failing, errno: EEXIST)
        let first = await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 0)
        #expect(first.errors.count == 1)
        #expect(first.errors.first?.contains("errno \(EEXIST)") == true)
        // The other destinations went in.
        let destinations = await kernel.state.balancers["blue"]?.services[MeshFixture.webMark]?.destinations
        #expect(destinations?.keys.sorted() == [Fixture.ip("10.0.1.2"), Fixture.ip("10.0.1.4")])
        // The failure is not recorded as applied: the next pass, even told nothing changed, dumps
        // and sends exactly the failed op.
        #expect(
            await mesh.reconcile(
                view: MeshFixture.view, changed: [], networks: ["blue"], resync: false, now: 1
            ).ops
                == [failing])
    }

    @Test func kernelAnswersThatMeanDoneAreNotFailures() {
        let key = MeshFixture.key("10.0.1.3")
        #expect(NetlinkMeshKernel.tolerated(.deleteDestination(key), errno: ENOENT))
        #expect(NetlinkMeshKernel.tolerated(.deleteService(network: "blue", mark: 0x164), errno: ESRCH))
        #expect(NetlinkMeshKernel.tolerated(.addVIP(network: "blue", MeshFixture.vip), errno: EEXIST))
        #expect(!NetlinkMeshKernel.tolerated(.addDestination(key, weight: 1), errno: EEXIST))
        #expect(!NetlinkMeshKernel.tolerated(.updateDestination(key, weight: 0), errno: ENOENT))
        #expect(!NetlinkMeshKernel.tolerated(.deleteDestination(key), errno: EPERM))
    }
}
