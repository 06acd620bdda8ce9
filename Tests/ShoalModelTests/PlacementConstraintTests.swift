import ShoalModel
import Testing

@Suite struct PlacementConstraintTests {
    let node = Node(
        id: "abc", name: "node1", role: .worker, address: IPv4Address(1),
        labels: ["zone": "a", "disk": "ssd"])

    @Test func matchesNameIdRoleAndLabels() throws {
        for (text, expected) in [
            ("node.hostname==node1", true), ("node.name == node2", false), ("node.id==abc", true),
            ("node.role!=manager", true), ("node.role==manager", false), ("node.labels.zone==a", true),
            ("node.labels.zone!=a", false), ("node.labels.rack==1", false), ("node.labels.rack!=1", true),
        ] {
            #expect(try PlacementConstraint(parsing: text).matches(node) == expected, "\(text)")
        }
        #expect(Placement(constraints: ["node.labels.zone==a", "node.labels.disk==ssd"]).allows(node))
        #expect(!Placement(constraints: ["node.labels.zone==a", "node.labels.disk==hdd"]).allows(node))
        #expect(Placement().allows(node))
    }

    @Test(arguments: [
        (
            "node.role=worker",
            "node.role=worker must look like node.hostname==NAME, node.role!=manager or node.labels.KEY==VALUE"
        ),
        ("node.hostname==", "node.hostname== has no value after =="),
        ("node.role==boss", "node.role==boss: node.role is manager or worker"),
        (
            "engine.labels.x==y",
            "engine.labels.x==y: engine.labels.x is not node.id, node.hostname, node.role or node.labels.KEY"
        ),
        (
            "node.labels.==y",
            "node.labels.==y: node.labels. is not node.id, node.hostname, node.role or node.labels.KEY"
        ),
    ])
    func refusesWithAReason(text: String, reason: String) {
        #expect(throws: PlacementError(reason)) { try PlacementConstraint(parsing: text) }
    }
}
