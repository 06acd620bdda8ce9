import HashTreeCollections

/// Objects of one kind by id. It remembers the value each id had before it was first written since
/// tracking was last reset (`takeChanges`), so a store write commits (or undoes) only what it
/// touched instead of copying and diffing every object: the cost of a write follows the change.
///
/// The objects are a persistent hash trie (`TreeDictionary`): a copy shares every node, and a write
/// to a shared map copies only the few nodes on the path to what it changes. The store's committed
/// snapshot shares the working state's maps, so with a plain `Dictionary` the first write after each
/// commit copied the whole map (100,000 tasks: 130-900 ms); here it copies a path (issue 12).
public struct ObjectMap<Value: Codable & Equatable & Sendable>: Sendable, Sequence,
    ExpressibleByDictionaryLiteral
{
    public private(set) var objects: TreeDictionary<String, Value>
    /// Ids written since tracking was reset, with the value they had then (nil: absent).
    private(set) var originals: [String: Value?] = [:]

    public init(_ dictionary: [String: Value] = [:]) {
        objects = TreeDictionary(uniqueKeysWithValues: dictionary.lazy.map { ($0.key, $0.value) })
    }

    public init(dictionaryLiteral elements: (String, Value)...) {
        objects = TreeDictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(id: String) -> Value? {
        get { objects[id] }
        set {
            if originals.index(forKey: id) == nil { originals[id] = .some(objects[id]) }
            objects[id] = newValue
        }
    }

    /// Ids written since tracking was reset.
    var touchedIDs: Dictionary<String, Value?>.Keys { originals.keys }

    /// The value `id` had before this write first touched it (nil: untouched or absent).
    func original(_ id: String) -> Value? { originals[id] ?? nil }

    public var values: TreeDictionary<String, Value>.Values { objects.values }
    public var keys: TreeDictionary<String, Value>.Keys { objects.keys }
    public var count: Int { objects.count }
    public var isEmpty: Bool { objects.isEmpty }

    public func makeIterator() -> TreeDictionary<String, Value>.Iterator { objects.makeIterator() }

    /// The touched ids whose value differs from before, with both values; tracking starts over.
    mutating func takeChanges() -> [(id: String, before: Value?, after: Value?)] {
        var changes: [(id: String, before: Value?, after: Value?)] = []
        for (id, before) in originals {
            let after = objects[id]
            if before != after { changes.append((id, before, after)) }
        }
        originals = [:]
        return changes
    }

    /// Puts back what was touched since tracking was reset (a write that failed).
    mutating func undoTracked() {
        for (id, before) in originals { objects[id] = before }
        originals = [:]
    }

    /// Forgets what was touched (the state was just loaded or rebuilt).
    mutating func resetTracking() { originals = [:] }
}

extension ObjectMap: Equatable {
    /// Equal objects; what was touched does not count. Subtrees the two maps share compare at once.
    public static func == (lhs: ObjectMap, rhs: ObjectMap) -> Bool { lhs.objects == rhs.objects }
}

extension ObjectMap: Codable {
    /// The same JSON as a `[String: Value]`: one object keyed by id (the stored and wire format).
    public init(from decoder: any Decoder) throws {
        objects = try TreeDictionary<String, Value>(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws { try objects.encode(to: encoder) }
}
