import ShoalModel

/// A stored object's value, held until the commit writer encodes it.
enum StoredObject: Sendable {
    case node(Node)
    case network(Network)
    case service(Service)
    case task(ClusterTask)
    case cursors(AllocatorCursors)

    /// The stored JSON (`StoreCoding`: sorted keys).
    func encoded() throws -> [UInt8] {
        switch self {
        case .node(let node): try StoreCoding.encode(node)
        case .network(let network): try StoreCoding.encode(network)
        case .service(let service): try StoreCoding.encode(service)
        case .task(let task): try StoreCoding.encode(task)
        case .cursors(let cursors): try StoreCoding.encode(cursors)
        }
    }
}

/// One object's change at one revision as a write left it: the values, not yet their JSON. A write
/// only records them; encoding them (a third of a write's cost with `JSONEncoder`) happens in the
/// commit writer, beside the next writes (issue 12).
struct PendingChange: Sendable {
    var revision: UInt64
    var kind: ObjectKind
    var id: String
    var before: StoredObject?
    var after: StoredObject?

    /// The change-log entry: both sides as stored JSON.
    func encoded() throws -> ObjectChange {
        ObjectChange(
            revision: revision, kind: kind, id: id, before: try before?.encoded(), after: try after?.encoded()
        )
    }
}
