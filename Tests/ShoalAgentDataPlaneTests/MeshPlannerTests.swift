import ShoalAgent
import ShoalModel
import Testing

/// The mesh fixture: network "blue" (10.0.1.0/24) with this node's LB address 10.0.1.200, service
/// "web" (VIP 10.0.1.100) with endpoints t1 (local), t2 and t3, and "db" in mode dnsrr.
enum MeshFixture {
    static let vip = Fixture.ip("10.0.1.100")
    static let lb = Fixture.ip("10.0.1.200")
    static let webMark = MeshNames.mark(
        vip: vip, subnet: CIDR(network: Fixture.ip("10.0.1.0"), clampedPrefix: 24))

    static func service(
        _ id: String, mode: EndpointMode = .vip, vip: IPv4Address? = MeshFixture.vip,
        scheduler: LoadBalancingScheduler? = nil
    ) -> FeedObject {
        .service(
            FeedService(
                networkID: "blue", serviceID: id, serviceName: id == "s1" ? "web" : id, aliases: [],
                endpointMode: mode, virtualIP: mode == .vip ? vip : nil, ports: [], scheduler: scheduler))
    }

    static var view: [String: FeedObject] {
        var view = Fixture.view
        view["network/blue"] = .network(
            FeedNetwork(
                id: "blue", name: "blue", vni: 4097,
                subnet: CIDR(network: Fixture.ip("10.0.1.0"), clampedPrefix: 24),
                gateway: Fixture.ip("10.0.1.1"), mtu: 1450, internal: false, ingress: false,
                loadBalancerIP: lb))
        for object in [service("s1"), service("db", mode: .dnsrr)] { view[object.key] = object }
        return view
    }

    static func key(_ address: String) -> MeshDestinationKey {
        MeshDestinationKey(network: "blue", mark: webMark, address: Fixture.ip(address))
    }

    /// Sets an endpoint's state, or removes it (nil).
    static func endpoint(_ view: inout [String: FeedObject], _ task: String, _ state: EndpointState?) {
        guard case .endpoint(var endpoint) = view["endpoint/blue/\(task)"] else { return }
        guard let state else {
            view["endpoint/blue/\(task)"] = nil
            return
        }
        endpoint.state = state
        view["endpoint/blue/\(task)"] = .endpoint(endpoint)
    }
}

@Suite struct MeshPlannerTests {
    func plan(_ view: [String: FeedObject], _ observed: ObservedMesh, released: Set<MeshDestinationKey> = [])
        -> [MeshOp]
    {
        MeshPlanner.plan(
            desired: DesiredMesh(view: view, networks: ["blue"]), observed: observed, released: released)
    }

    func applying(_ ops: [MeshOp], to observed: ObservedMesh) -> ObservedMesh {
        var state = observed
        for op in ops { state.record(op) }
        return state
    }

    @Test func vipModeFromNothingThenNothingLeft() {
        let ops = plan(MeshFixture.view, ObservedMesh())
        #expect(
            ops.map(\.description) == [
                "load balancer 10.0.1.200/24 02:42:0a:00:01:c8 on blue",
                "vip 10.0.1.100/32 on blue",
                "nft table shoal_mesh (1 vips) on blue",
                "ipvs FWM \(MeshFixture.webMark) rr on blue",
                "ipvs blue/FWM \(MeshFixture.webMark)/10.0.1.2 weight 1",
                "ipvs blue/FWM \(MeshFixture.webMark)/10.0.1.3 weight 1",
                "ipvs blue/FWM \(MeshFixture.webMark)/10.0.1.4 weight 1",
            ])
        #expect(MeshFixture.webMark == 0x100 + 100)
        #expect(plan(MeshFixture.view, applying(ops, to: ObservedMesh())).isEmpty)
    }

    @Test func dnsrrAndMissingLoadBalancerGetNothing() {
        var view = MeshFixture.view
        view["service/blue/s1"] = MeshFixture.service("s1", mode: .dnsrr)
        let ops = plan(view, ObservedMesh())
        #expect(!ops.contains { if case .addService = $0 { true } else { false } })
        #expect(!ops.contains { if case .addVIP = $0 { true } else { false } })
        view["network/blue"] = Fixture.network("blue", vni: 4097)  // no LB address yet
        #expect(plan(view, ObservedMesh()).isEmpty)
    }

    @Test func aServiceWithoutTasksKeepsItsVIPAndService() {
        var view = MeshFixture.view
        for task in ["t1", "t2", "t3"] { MeshFixture.endpoint(&view, task, nil) }
        let ops = plan(view, ObservedMesh())
        #expect(ops.contains(.addVIP(network: "blue", MeshFixture.vip)))
        #expect(ops.contains(.addService(network: "blue", mark: MeshFixture.webMark, scheduler: "rr")))
        #expect(!ops.contains { if case .addDestination = $0 { true } else { false } })
    }

    @Test func onlyUpEndpointsGetWeight() {
        var view = MeshFixture.view
        MeshFixture.endpoint(&view, "t2", .draining)
        let ops = plan(view, ObservedMesh())
        #expect(ops.contains(.addDestination(MeshFixture.key("10.0.1.3"), weight: 0)))
        #expect(ops.contains(.addDestination(MeshFixture.key("10.0.1.4"), weight: 1)))
    }

    @Test func schedulerChangeUpdatesTheServiceInPlace() {
        let before = applying(plan(MeshFixture.view, ObservedMesh()), to: ObservedMesh())
        var view = MeshFixture.view
        view["service/blue/s1"] = MeshFixture.service("s1", scheduler: .lc)
        #expect(
            plan(view, before) == [
                .updateService(network: "blue", mark: MeshFixture.webMark, scheduler: "lc")
            ])
    }

    @Test func aRemovedEndpointDrainsToWeightZeroThenGoesWhenReleased() {
        let before = applying(plan(MeshFixture.view, ObservedMesh()), to: ObservedMesh())
        var view = MeshFixture.view
        MeshFixture.endpoint(&view, "t3", nil)
        let key = MeshFixture.key("10.0.1.4")
        let drain = plan(view, before)
        #expect(drain == [.updateDestination(key, weight: 0)])
        let drained = applying(drain, to: before)
        #expect(
            MeshPlanner.lingering(desired: DesiredMesh(view: view, networks: ["blue"]), observed: drained)
                == [key])
        #expect(plan(view, drained).isEmpty)
        #expect(plan(view, drained, released: [key]) == [.deleteDestination(key)])
    }

    @Test func newDestinationsComeBeforeDrainsAndStaleObjectsGoLast() {
        var before = applying(plan(MeshFixture.view, ObservedMesh()), to: ObservedMesh())
        before.record(.addVIP(network: "blue", Fixture.ip("10.0.1.99")))
        before.record(.addService(network: "blue", mark: 0x163, scheduler: "rr"))
        var view = MeshFixture.view
        MeshFixture.endpoint(&view, "t3", nil)
        view["endpoint/blue/t7"] = Fixture.endpoint(
            "t7", network: "blue", address: "10.0.1.7", mac: 7, node: "n2", vtep: "172.29.0.12")
        let ops = plan(view, before)
        #expect(
            ops == [
                .addDestination(MeshFixture.key("10.0.1.7"), weight: 1),
                .updateDestination(MeshFixture.key("10.0.1.4"), weight: 0),
                .deleteService(network: "blue", mark: 0x163),
                .deleteAddress(network: "blue", Fixture.ip("10.0.1.99"), prefixLength: 32),
            ])
    }

    @Test func aChangedVIPSetRewritesTheRulesOnceAndAKnownTableIsKept() {
        let before = applying(plan(MeshFixture.view, ObservedMesh()), to: ObservedMesh())
        var view = MeshFixture.view
        view["service/blue/s2"] = .service(
            FeedService(
                networkID: "blue", serviceID: "s2", serviceName: "api", aliases: [], endpointMode: .vip,
                virtualIP: Fixture.ip("10.0.1.101"), ports: []))
        let ops = plan(view, before)
        #expect(ops.filter { if case .writeRules = $0 { true } else { false } }.count == 1)
        // A destination change alone writes no nft transaction.
        var moved = MeshFixture.view
        MeshFixture.endpoint(&moved, "t2", nil)
        #expect(!plan(moved, before).contains { if case .writeRules = $0 { true } else { false } })
    }
}

@Suite struct MeshReconcilerTests {
    @Test func drainWaitsForConnectionsThenDeletes() async {
        let kernel = FakeMeshKernel()
        let mesh = MeshReconciler(kernel: kernel, graceSeconds: 10)
        _ = await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 0)
        var view = MeshFixture.view
        MeshFixture.endpoint(&view, "t3", nil)
        let key = MeshFixture.key("10.0.1.4")
        await kernel.setConnections(key, 2)
        let first = await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 1)
        #expect(first.ops == [.updateDestination(key, weight: 0)])
        #expect(await mesh.draining)
        // Still connected: kept at weight 0.
        #expect(await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 2).ops.isEmpty)
        await kernel.setConnections(key, 0)
        #expect(
            await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 3).ops == [
                .deleteDestination(key)
            ])
        #expect(!(await mesh.draining))
    }

    @Test func graceEndsTheDrainWhateverTheConnections() async {
        let kernel = FakeMeshKernel()
        let mesh = MeshReconciler(kernel: kernel, graceSeconds: 5)
        _ = await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 0)
        var view = MeshFixture.view
        MeshFixture.endpoint(&view, "t3", nil)
        let key = MeshFixture.key("10.0.1.4")
        await kernel.setConnections(key, 7)
        _ = await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 10)
        #expect(await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 14).ops.isEmpty)
        #expect(
            await mesh.reconcile(view: view, networks: ["blue"], resync: false, now: 15).ops == [
                .deleteDestination(key)
            ])
    }

    @Test func aRestartedAgentAdoptsWhatIsThere() async {
        let kernel = FakeMeshKernel()
        let first = MeshReconciler(kernel: kernel)
        #expect(
            !(await first.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 0).ops
                .isEmpty))
        let restarted = MeshReconciler(kernel: kernel)
        #expect(
            await restarted.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 1).ops
                .isEmpty)
    }

    @Test func handMadeDriftIsRepairedOnResync() async {
        let kernel = FakeMeshKernel()
        let mesh = MeshReconciler(kernel: kernel)
        _ = await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 0)
        let key = MeshFixture.key("10.0.1.3")
        await kernel.mutate {
            $0.balancers["blue"]?.services[key.mark]?.destinations[key.address]?.weight = 5
        }
        #expect(
            await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: false, now: 1).ops
                .isEmpty)
        #expect(
            await mesh.reconcile(view: MeshFixture.view, networks: ["blue"], resync: true, now: 2).ops == [
                .updateDestination(key, weight: 1)
            ])
    }
}

@Suite struct IngressPlannerTests {
    static let ingressSubnet = CIDR(network: Fixture.ip("10.255.0.0"), clampedPrefix: 24)

    /// The ingress network with this node's LB address, and service "pub" publishing tcp 30080 -> 8080
    /// with one remote task; this node runs task "h1" with host-mode port udp 5353 -> 53.
    static var view: [String: FeedObject] {
        let objects: [FeedObject] = [
            .network(
                FeedNetwork(
                    id: "ing", name: "ingress", vni: 4096, subnet: ingressSubnet,
                    gateway: Fixture.ip("10.255.0.1"),
                    mtu: 1450, internal: false, ingress: true, loadBalancerIP: Fixture.ip("10.255.0.3"))),
            .service(
                FeedService(
                    networkID: "ing", serviceID: "p1", serviceName: "pub", aliases: [], endpointMode: .vip,
                    virtualIP: Fixture.ip("10.255.0.2"),
                    ports: [PortConfig(target: 8080, published: 30080)])),
            .endpoint(
                FeedEndpoint(
                    networkID: "ing", taskID: "p1t", taskName: "pub.1.p1t", serviceID: "p1",
                    serviceName: "pub",
                    aliases: [], address: Fixture.ip("10.255.0.9"), mac: Fixture.mac(9), nodeID: "n2",
                    nodeAddress: Fixture.ip("172.29.0.12"), state: .up)),
            .task(
                FeedTask(
                    id: "h1", name: "hp.1.h1", serviceID: "h", serviceName: "hp", slot: 1,
                    desiredState: .running,
                    spec: TaskSpec(
                        command: ["x"],
                        hostPorts: [
                            PortConfig(protocol: .udp, target: 53, published: 5353, publishMode: .host)
                        ]),
                    endpoints: [])),
        ]
        return Dictionary(uniqueKeysWithValues: objects.map { ($0.key, $0) })
    }

    @Test func theIngressNetworkIsOnEveryNodeWhileAPortIsPublished() {
        #expect(DesiredNode(view: Self.view, nodeID: "n1").networks["ing"]?.ingress == true)
        var view = Self.view
        view["service/ing/p1"] = nil
        #expect(DesiredNode(view: view, nodeID: "n1").networks["ing"] == nil)
    }

    @Test func publishedPortsGoToTheIngressNamespaceAndHostPortsToTheLocalTask() {
        let egress = ["h1": Fixture.ip("172.31.0.2")]
        let desired = DesiredMesh(view: Self.view, networks: ["ing"], egress: egress)
        let mark = MeshNames.mark(published: PublishedPort(.tcp, 30080))
        #expect(mark == 0x1_0000 + 30080)
        let ops = MeshPlanner.plan(desired: desired, observed: ObservedMesh(), released: [])
        #expect(
            ops.map(\.description) == [
                "load balancer 10.255.0.3/24 02:42:0a:ff:00:03 on ing",
                "ingress 172.31.255.254 via 172.31.0.1 on ing",
                "nft table shoal_mesh (1 vips) on ing",
                "ipvs FWM \(mark) rr on ing",
                "ipvs ing/FWM \(mark)/10.255.0.9:8080 weight 1",
                "nft table shoal_ingress (2 ports)",
            ])
        #expect(
            desired.hostPorts.map { "\($0.published.proto) \($0.published.port) -> \($0.address):\($0.port)" }
                == [
                    "tcp 30080 -> 172.31.255.254:30080", "udp 5353 -> 172.31.0.2:53",
                ])
        #expect(desired.balancers["ing"]?.services[mark]?.port == 8080)
        #expect(desired.balancers["ing"]?.vips.isEmpty == true)
        var state = ObservedMesh()
        for op in ops { state.record(op) }
        #expect(MeshPlanner.plan(desired: desired, observed: state, released: []).isEmpty)
        // IPVS names a destination by address and port: one on another port is replaced.
        var otherPort = state
        otherPort.balancers["ing"]?.services[mark]?.destinations[Fixture.ip("10.255.0.9")]?.port = 0
        let key = MeshDestinationKey(
            network: "ing", mark: mark, address: Fixture.ip("10.255.0.9"), port: 8080)
        var stale = key
        stale.port = 0
        #expect(
            MeshPlanner.plan(desired: desired, observed: otherPort, released: []) == [
                .deleteDestination(stale), .addDestination(key, weight: 1),
            ])
        // The task without its egress leg yet publishes nothing; nothing published removes the table.
        let noTask = DesiredMesh(view: Self.view, networks: ["ing"])
        #expect(noTask.hostPorts.count == 1)
        #expect(
            MeshPlanner.plan(desired: DesiredMesh(), observed: state, released: []) == [.writeHostRules([])])
    }
}

@Suite struct MeshRulesTests {
    @Test func digestIsReadBackFromARuleComment() {
        let json = """
            {"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "shoal_mesh"}},
            {"rule": {"family": "ip", "table": "shoal_mesh", "chain": "postrouting", "comment": "shoal-mesh-1f"}}]}
            """
        #expect(MeshRules.readDigest(json) == "shoal-mesh-1f")
        #expect(MeshRules.readDigest("{}") == nil)
    }
}
