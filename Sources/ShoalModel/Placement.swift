import Foundation

/// Where a service's tasks may run: every constraint must hold for a node (Swarm's syntax).
public struct Placement: Codable, Equatable, Sendable {
    /// `node.hostname==web1`, `node.role!=manager`, `node.labels.zone==a`, `node.id==...`.
    public var constraints: [String]?

    public init(constraints: [String]? = nil) { self.constraints = constraints }
}

/// One parsed placement constraint.
public struct PlacementConstraint: Equatable, Sendable {
    public enum Attribute: Equatable, Sendable {
        case id, name, role
        case label(String)
    }

    public var attribute: Attribute
    public var equal: Bool
    public var value: String

    /// Parses `ATTRIBUTE==VALUE` or `ATTRIBUTE!=VALUE`; the error says what is accepted.
    public init(parsing text: String) throws(PlacementError) {
        let trimmed = text.trimmingSpaces
        let (separator, equal) = trimmed.contains("!=") ? ("!=", false) : ("==", true)
        let parts = trimmed.components(separatedBy: separator)
        guard parts.count == 2 else {
            throw PlacementError(
                "\(text) must look like node.hostname==NAME, node.role!=manager or node.labels.KEY==VALUE")
        }
        let key = parts[0].trimmingSpaces
        value = parts[1].trimmingSpaces
        self.equal = equal
        guard !value.isEmpty else { throw PlacementError("\(text) has no value after \(separator)") }
        switch key {
        case "node.id": attribute = .id
        case "node.hostname", "node.name": attribute = .name
        case "node.role":
            attribute = .role
            guard NodeRole(rawValue: value) != nil else {
                throw PlacementError("\(text): node.role is manager or worker")
            }
        default:
            let prefix = "node.labels."
            guard key.hasPrefix(prefix), key.count > prefix.count else {
                throw PlacementError(
                    "\(text): \(key) is not node.id, node.hostname, node.role or node.labels.KEY")
            }
            attribute = .label(String(key.dropFirst(prefix.count)))
        }
    }

    public func matches(_ node: Node) -> Bool {
        let actual: String? =
            switch attribute {
            case .id: node.id
            case .name: node.name
            case .role: node.role.rawValue
            case .label(let key): node.labels?[key]
            }
        return (actual == value) == equal
    }
}

public struct PlacementError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Placement {
    /// True when the node satisfies every constraint (constraints that do not parse match nothing).
    public func allows(_ node: Node) -> Bool {
        (constraints ?? []).allSatisfy { text in
            (try? PlacementConstraint(parsing: text))?.matches(node) ?? false
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
