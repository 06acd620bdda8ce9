import ShoalModel
import Testing

@testable import ShoalCtlKit

@Suite struct PlanTests {
    let label = ["shoal.stack.namespace": "s"]

    func specs(replicas: Int = 1, command: [String] = ["run"]) -> StackSpecs {
        let file = StackFile(
            services: [
                StackService(
                    name: "web", image: nil, command: command, env: [], mode: nil, replicas: replicas,
                    endpointMode: nil, updatePolicy: nil, constraints: [], ports: [],
                    networks: [NetworkAttachment(target: "n")],
                    healthCheck: nil, labels: [:])
            ],
            networks: [
                StackNetwork(
                    key: "n", external: false, name: nil, subnet: CIDR("10.5.0.0/24"), attachable: nil,
                    internal: nil,
                    labels: [:])
            ], warnings: [])
        return StackSpecs(file, stack: "s")
    }

    func network(labels: [String: String]?) -> Network {
        Network(
            id: "n1", name: "s_n", vni: 4097,
            subnet: CIDR("10.5.0.0/24") ?? CIDR(network: IPv4Address(0), clampedPrefix: 24),
            gateway: IPv4Address(1), labels: labels)
    }

    @Test func firstDeployCreatesEverything() throws {
        let plan = try StackPlan(specs(), stack: "s", networks: [], services: [])
        #expect(plan.actions == [.createNetwork(specs().networks[0]), .createService(specs().services[0])])
    }

    @Test func sameFileChangesNothing() throws {
        let service = Service(id: "a", version: 7, spec: specs().services[0])
        let plan = try StackPlan(specs(), stack: "s", networks: [network(labels: label)], services: [service])
        #expect(plan.actions == [.unchanged("s_web")])
        #expect(plan.changedServices.isEmpty)
    }

    @Test func replicasAloneScaleAndOtherChangesUpdate() throws {
        let service = Service(id: "a", version: 7, spec: specs().services[0])
        let scaled = try StackPlan(
            specs(replicas: 3), stack: "s", networks: [network(labels: label)], services: [service])
        #expect(
            scaled.actions == [.updateService(specs(replicas: 3).services[0], version: 7, scaleOnly: true)])
        let changed = try StackPlan(
            specs(command: ["new"]), stack: "s", networks: [network(labels: label)], services: [service])
        #expect(
            changed.actions == [
                .updateService(specs(command: ["new"]).services[0], version: 7, scaleOnly: false)
            ])
    }

    @Test func refusesObjectsOfOthersAndChangedNetworks() {
        #expect(throws: StackPlan.Refusal.self) {
            try StackPlan(specs(), stack: "s", networks: [network(labels: nil)], services: [])
        }
        var other = specs().services[0]
        other.labels = nil
        #expect(throws: StackPlan.Refusal.self) {
            try StackPlan(specs(), stack: "s", networks: [], services: [Service(id: "a", spec: other)])
        }
        var moved = network(labels: label)
        moved.subnet = CIDR("10.6.0.0/24") ?? moved.subnet
        #expect(throws: StackPlan.Refusal.self) {
            try StackPlan(specs(), stack: "s", networks: [moved], services: [])
        }
    }

    @Test func pruneRemovesOnlyThisStacksLeftovers() throws {
        var old = specs().services[0]
        old.name = "s_old"
        var foreign = old
        foreign.name = "t_old"
        foreign.labels = ["shoal.stack.namespace": "t"]
        let plan = try StackPlan(
            specs(), stack: "s", networks: [network(labels: label)],
            services: [Service(id: "x", spec: old), Service(id: "y", spec: foreign)], prune: true)
        #expect(plan.actions == [.createService(specs().services[0]), .removeService("s_old")])
    }
}
