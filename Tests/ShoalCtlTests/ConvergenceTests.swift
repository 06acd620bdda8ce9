import ShoalModel
import Testing

@testable import ShoalCtlKit

@Suite struct ConvergenceTests {
    let node = Node(id: "n1", name: "node1", address: IPv4Address(1))

    func task(
        _ slot: Int, _ state: TaskState, desired: DesiredState = .running, generation: Int = 1,
        version: UInt64 = 1
    )
        -> ClusterTask
    {
        ClusterTask(
            id: "t\(slot)\(version)", version: version, status: state.rawValue, name: "web.\(slot)",
            serviceID: "s", serviceName: "web",
            slot: slot, nodeID: "n1", generation: generation, desiredState: desired, state: state,
            spec: TaskSpec(command: ["x"]), endpoints: [])
    }

    let service = Service(id: "s", spec: ServiceSpec(name: "web", replicas: 2, command: ["x"]))

    @Test func countsRunningTasksOfTheCurrentGeneration() {
        let partial = Convergence(
            service: service, tasks: [task(1, .running), task(2, .assigned)], nodes: [node])
        #expect(partial.overall == "overall progress: 1 out of 2 tasks")
        #expect(!partial.done)
        #expect(
            partial.slots == [
                .init(label: "1/2", state: "running", detail: "on node1"),
                .init(label: "2/2", state: "assigned", detail: "assigned"),
            ])
        #expect(
            Convergence(service: service, tasks: [task(1, .running), task(2, .running)], nodes: [node]).done)
        var updated = service
        updated.generation = 2
        #expect(
            !Convergence(service: updated, tasks: [task(1, .running), task(2, .running)], nodes: [node]).done)
    }

    @Test func scaleDownWaitsForExtraTasksToLeave() {
        var one = service
        one.spec.replicas = 1
        #expect(
            !Convergence(service: one, tasks: [task(1, .running), task(2, .running)], nodes: [node]).done)
        #expect(
            Convergence(
                service: one, tasks: [task(1, .running), task(2, .running, desired: .draining)], nodes: [node]
            ).done)
    }

    @Test func pausedUpdateIsAFailure() {
        var paused = service
        paused.update = UpdateStatus(state: .paused, message: "update paused: task web.1 failed: exit 1")
        #expect(
            Convergence(service: paused, tasks: [], nodes: [node]).failure
                == "update paused: task web.1 failed: exit 1")
    }

    @Test func globalWantsOneTaskPerEligibleNode() {
        let global = Service(
            id: "s",
            spec: ServiceSpec(
                name: "g", mode: .global, command: ["x"],
                placement: Placement(constraints: ["node.role==worker"])))
        let manager = Node(id: "n2", name: "node2", role: .manager, address: IPv4Address(2))
        let drained = Node(id: "n3", name: "node3", availability: .drain, address: IPv4Address(3))
        let state = Convergence(service: global, tasks: [task(0, .running)], nodes: [node, manager, drained])
        #expect(state.desired == 1)
        #expect(state.done)
    }
}
