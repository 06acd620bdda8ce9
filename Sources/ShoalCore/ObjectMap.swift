/// Objects of one kind by id. It remembers the value each id had before it was first written since
/// the last `commitTracked`, so a store write commits (or undoes) only what it touched instead of
/// copying and diffing every object: the cost of a write follows the change, not the cluster.
public struct ObjectMap<Value: Codable & Equatable & Sendable>: Sendable, Sequence,
    ExpressibleByDictionaryLiteral
{
    public private(set) var dictionary: [String: Value]
    /// Ids written since tracking was reset, with the value they had then (nil: absent).
    private(set) var originals: [String: Value?] = [:]

    public init(_ dictionary: [String: Value] = [:]) { self.dictionary = dictionary }

    public init(dictionaryLiteral elements: (String, Value)...) {
        dictionary = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(id: String) -> Value? {
        get { dictionary[id] }
        set {
            if originals.index(forKey: id) == nil { originals[id] = .some(dictionary[id]) }
            dictionary[id] = newValue
        }
    }

    /// Ids written since tracking was reset.
    var touchedIDs: Dictionary<String, Value?>.Keys { originals.keys }

    /// The value `id` had before this write first touched it (nil: untouched or absent).
    func original(_ id: String) -> Value? { originals[id] ?? nil }

    public var values: Dictionary<String, Value>.Values { dictionary.values }
    public var keys: Dictionary<String, Value>.Keys { dictionary.keys }
    public var count: Int { dictionary.count }
    public var isEmpty: Bool { dictionary.isEmpty }

    public func makeIterator() -> Dictionary<String, Value>.Iterator { dictionary.makeIterator() }

    /// The touched ids whose value differs from before, with both values; tracking starts over.
    mutating func takeChanges() -> [(id: String, before: Value?, after: Value?)] {
        var changes: [(id: String, before: Value?, after: Value?)] = []
        for (id, before) in originals {
            let after = dictionary[id]
            if before != after { changes.append((id, before, after)) }
        }
        originals = [:]
        return changes
    }

    /// Puts back what was touched since tracking was reset (a write that failed).
    mutating func undoTracked() {
        for (id, before) in originals { dictionary[id] = before }
        originals = [:]
    }

    /// Forgets what was touched (the state was just loaded or rebuilt).
    mutating func resetTracking() { originals = [:] }
}

extension ObjectMap: Equatable {
    /// Equal objects; what was touched does not count.
    public static func == (lhs: ObjectMap, rhs: ObjectMap) -> Bool { lhs.dictionary == rhs.dictionary }
}

extension ObjectMap: Codable {
    public init(from decoder: any Decoder) throws {
        dictionary = try [String: Value](from: decoder)
    }

    public func encode(to encoder: any Encoder) throws { try dictionary.encode(to: encoder) }
}
