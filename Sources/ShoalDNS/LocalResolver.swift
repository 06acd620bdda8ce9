/// Decides a query from the record table alone: an answer, NODATA, or "not ours" (forward it).
enum LocalDecision: Equatable {
    case answer([LocalAnswer], ttl: UInt32)
    /// The name is Shoal's but has no record of the asked type: NOERROR, empty, never forwarded.
    case nodata
    case forward
}

enum LocalResolver {
    static func decide<R: RandomNumberGenerator>(
        _ query: DNSQuery, table: DNSRecordTable, scope: DNSScope, rng: inout R
    ) -> LocalDecision {
        guard query.qclass == DNSClass.internet || query.qclass == DNSClass.any else { return .forward }
        let entries = table.lookup(query.key, networks: table.networks(for: scope))
        if entries.isEmpty { return .forward }
        var answers: [LocalAnswer] = []
        var ttl = UInt32.max
        for entry in entries where matches(entry.answer, query.type) && !answers.contains(entry.answer) {
            answers.append(entry.answer)
            ttl = min(ttl, entry.ttl)
        }
        if answers.isEmpty { return .nodata }
        if answers.count > 1 { answers.shuffle(using: &rng) }
        return .answer(answers, ttl: ttl)
    }

    private static func matches(_ answer: LocalAnswer, _ type: DNSType) -> Bool {
        switch answer {
        case .address: type == .a || type == .any
        case .pointer: type == .ptr || type == .any
        case .service: type == .srv || type == .any
        }
    }
}

/// A small fast generator for shuffling answers; one per channel handler, so no locking.
struct ShuffleRNG: RandomNumberGenerator {
    private var state: UInt64

    init() { state = UInt64.random(in: 1...UInt64.max) }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
