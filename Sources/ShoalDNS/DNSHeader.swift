/// The fixed 12-byte message header (RFC 1035 4.1.1); flags kept raw, read through accessors.
public struct DNSHeader: Equatable, Sendable {
    public var id: UInt16
    public var flags: UInt16
    public var questionCount: UInt16 = 0
    public var answerCount: UInt16 = 0
    public var authorityCount: UInt16 = 0
    public var additionalCount: UInt16 = 0

    public init(id: UInt16, flags: UInt16 = 0) {
        self.id = id
        self.flags = flags
    }

    public var isResponse: Bool {
        get { flags & 0x8000 != 0 }
        set { set(0x8000, newValue) }
    }
    public var opcode: UInt8 { UInt8(flags >> 11 & 0xF) }
    public var authoritative: Bool {
        get { flags & 0x0400 != 0 }
        set { set(0x0400, newValue) }
    }
    public var truncated: Bool {
        get { flags & 0x0200 != 0 }
        set { set(0x0200, newValue) }
    }
    public var recursionDesired: Bool {
        get { flags & 0x0100 != 0 }
        set { set(0x0100, newValue) }
    }
    public var recursionAvailable: Bool {
        get { flags & 0x0080 != 0 }
        set { set(0x0080, newValue) }
    }
    /// The low four bits; EDNS extends it with the OPT record's TTL field.
    public var rcode: UInt8 {
        get { UInt8(flags & 0xF) }
        set { flags = flags & ~0xF | UInt16(newValue & 0xF) }
    }

    private mutating func set(_ bit: UInt16, _ on: Bool) {
        flags = on ? flags | bit : flags & ~bit
    }
}
