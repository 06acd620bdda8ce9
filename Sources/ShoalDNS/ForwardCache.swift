import NIOCore

/// Upstream answers by question, kept for their TTL (RFC 2308 for negative answers). An entry keeps
/// the answer's bytes and where its TTL fields are, so a hit is a copy with the id and TTLs rewritten.
struct ForwardCache {
    struct Key: Hashable {
        var name: String
        var type: UInt16
        var qclass: UInt16
    }

    struct Entry {
        var message: ByteBuffer
        var ttlOffsets: [Int]
        var stored: NIODeadline
        var expires: NIODeadline
    }

    private var entries: [Key: Entry] = [:]
    let capacity: Int
    let maxTTL: UInt32

    init(capacity: Int, maxTTL: UInt32) {
        self.capacity = capacity
        self.maxTTL = maxTTL
    }

    var count: Int { entries.count }

    /// A copy of a live entry with `id` and the TTLs lowered by the time it has been cached.
    mutating func lookup(_ key: Key, id: UInt16, now: NIODeadline) -> ByteBuffer? {
        guard let entry = entries[key] else { return nil }
        guard now < entry.expires else {
            entries[key] = nil
            return nil
        }
        var copy = entry.message
        copy.setInteger(id, at: copy.readerIndex)
        let elapsed = UInt32(clamping: (now - entry.stored).nanoseconds / 1_000_000_000)
        for offset in entry.ttlOffsets {
            let ttl = copy.getInteger(at: copy.readerIndex + offset, as: UInt32.self) ?? 0
            copy.setInteger(ttl > elapsed ? ttl - elapsed : 0, at: copy.readerIndex + offset)
        }
        return copy
    }

    /// Keeps `message` if it says how long it may be kept: the smallest answer TTL for a positive
    /// answer, min(SOA TTL, SOA minimum) for NXDOMAIN and NODATA; SERVFAIL and others are not kept.
    mutating func store(_ key: Key, message: ByteBuffer, now: NIODeadline) {
        guard let (ttl, offsets) = Self.cacheability(message), ttl > 0 else { return }
        if entries.count >= capacity { evict(now: now) }
        entries[key] = Entry(
            message: message, ttlOffsets: offsets, stored: now,
            expires: now + .seconds(Int64(min(ttl, maxTTL))))
    }

    /// Drops expired entries; if none were, an arbitrary tenth, so a full cache costs O(1) per insert
    /// on average.
    private mutating func evict(now: NIODeadline) {
        entries = entries.filter { $0.value.expires > now }
        if entries.count >= capacity {
            for key in entries.keys.prefix(max(1, capacity / 10)) { entries[key] = nil }
        }
    }

    static func cacheability(_ message: ByteBuffer) -> (ttl: UInt32, offsets: [Int])? {
        try? withWire(message) { raw throws(DNSError) -> (UInt32, [Int])? in
            var reader = WireReader(raw)
            let header = try reader.header()
            for _ in 0..<header.questionCount {
                try reader.walkName { _ in }
                try reader.skip(4)
            }
            var offsets: [Int] = []
            var answerTTL = UInt32.max
            var negativeTTL: UInt32?
            let counts = [Int(header.answerCount), Int(header.authorityCount), Int(header.additionalCount)]
            for (section, count) in counts.enumerated() {
                for _ in 0..<count {
                    let start = reader.offset
                    try reader.walkName { _ in }
                    let type = DNSType(rawValue: try reader.u16())
                    try reader.skip(2)
                    let ttlOffset = reader.offset
                    let ttl = try reader.u32()
                    if type != .opt { offsets.append(ttlOffset) }
                    if section == 0 { answerTTL = min(answerTTL, ttl) }
                    if section == 1 && type == .soa {
                        reader.offset = start
                        let record = try reader.record()
                        if case .soa(let soa) = record.data { negativeTTL = min(ttl, soa.minimum) }
                    } else {
                        try reader.skip(Int(try reader.u16()))
                    }
                }
            }
            switch (header.rcode, header.answerCount) {
            case (DNSRCode.noError.rawValue, 1...): return (answerTTL, offsets)
            case (DNSRCode.noError.rawValue, 0), (DNSRCode.nxDomain.rawValue, _):
                return negativeTTL.map { ($0, offsets) }
            default: return nil
            }
        }
    }
}
