/// One table of a view as a COMPLETE reads it: encoded objects by key, and the keys in order.
struct CompleteSource {
    var objects: [String: [UInt8]]
    var keys: [String]
}

/// A COMPLETE written in parts: one line, `{"objects":[...],"revision":R,"store":S,"type":"complete"}`,
/// byte for byte what `FeedLine.encode` makes of the view, handed out a part at a time so a feed
/// never holds a whole view's line (30 MB at 100,000 tasks).
///
/// The cursor keeps only the last key written: each part goes on from there in the tables as they
/// are when it is made (objects are merged by key over the view's tables, each already sorted), so
/// a COMPLETE in progress holds no copy of the view however long its agent takes to read it.
/// An object that changes after `revision` is written as it is when its part is made, and also
/// comes in the INCREMENTAL from `revision` that follows (its key was logged), so the agent's view
/// is exact once it applied that.
struct CompleteCursor: Sendable {
    let revision: UInt64
    let store: String
    /// The view's tables when the COMPLETE started (the node's own, then its networks').
    let tables: [String]
    private var after: String?
    private var started = false
    private var wroteObject = false
    /// Where each table stood after the last part.
    private var stops: [Int] = []
    private(set) var done = false

    init(revision: UInt64, store: String, tables: [String]) {
        self.revision = revision
        self.store = store
        self.tables = tables
    }

    /// The next part: at least `limit` bytes unless it is the last (one object may take it past
    /// `limit`); the last part ends with the line's newline.
    mutating func nextPart(from sources: [CompleteSource], limit: Int) -> [UInt8] {
        var part: [UInt8] = []
        part.reserveCapacity(min(limit, 1 << 20) + 256)
        if !started {
            started = true
            part.append(contentsOf: #"{"objects":["#.utf8)
        }
        // Where each table goes on: after the last key written. Where the last part stopped is
        // still right unless the table changed around it (two comparisons instead of a search).
        var positions = sources.indices.map { index in
            let keys = sources[index].keys
            guard let after else { return 0 }
            if index < stops.count, stops[index] <= keys.count,
                stops[index] == 0 || keys[stops[index] - 1] <= after,
                stops[index] == keys.count || after < keys[stops[index]]
            {
                return stops[index]
            }
            let found = FeedTables.lowerBound(after, in: keys)
            return found < keys.count && keys[found] == after ? found + 1 : found
        }
        defer { stops = positions }
        while part.count < limit {
            // The table with the smallest next key, and the next key of any other table.
            var smallest: Int?
            var runnerUp: String?
            for index in sources.indices where positions[index] < sources[index].keys.count {
                let key = sources[index].keys[positions[index]]
                if let current = smallest {
                    let currentKey = sources[current].keys[positions[current]]
                    if key < currentKey {
                        runnerUp = currentKey
                        smallest = index
                    } else if runnerUp.map({ key < $0 }) ?? true {
                        runnerUp = key
                    }
                } else {
                    smallest = index
                }
            }
            guard let smallest else {
                part.append(contentsOf: #"],"revision":\#(revision),"store":"#.utf8)
                part.append(contentsOf: FeedBytes.string(store))
                part.append(contentsOf: #","type":"complete"}"#.utf8)
                part.append(UInt8(ascii: "\n"))
                done = true
                return part
            }
            // Write from that table up to the runner-up's key: one comparison per object.
            let source = sources[smallest]
            while positions[smallest] < source.keys.count && part.count < limit {
                let key = source.keys[positions[smallest]]
                if let runnerUp, !(key < runnerUp) { break }
                if let bytes = source.objects[key] {
                    if wroteObject { part.append(UInt8(ascii: ",")) }
                    part.append(contentsOf: bytes)
                    wroteObject = true
                }
                after = key
                positions[smallest] += 1
            }
        }
        return part
    }
}

extension FeedBytes {
    /// A whole COMPLETE from tables of encoded objects (tests, and views read whole).
    static func complete(revision: UInt64, parts: [[String: [UInt8]]], store: String) -> [UInt8] {
        var cursor = CompleteCursor(revision: revision, store: store, tables: [])
        let sources = parts.map { CompleteSource(objects: $0, keys: $0.keys.sorted()) }
        var line: [UInt8] = []
        while !cursor.done { line.append(contentsOf: cursor.nextPart(from: sources, limit: Int.max)) }
        return line
    }
}
