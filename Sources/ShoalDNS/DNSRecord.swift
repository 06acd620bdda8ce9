import ShoalModel

/// Start of authority (RFC 1035 3.3.13); `minimum` bounds negative caching (RFC 2308).
public struct DNSSOA: Hashable, Sendable {
    public var primary: DNSName
    public var mailbox: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    public var minimum: UInt32

    public init(
        primary: DNSName, mailbox: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32
    ) {
        self.primary = primary
        self.mailbox = mailbox
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// A record's data, decoded for the types Shoal serves or reads; other types keep their bytes.
public enum DNSRData: Hashable, Sendable {
    case a(IPv4Address)
    case aaaa([UInt8])
    /// CNAME, PTR and NS: one name.
    case name(DNSName)
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    case txt([[UInt8]])
    case soa(DNSSOA)
    /// Any other type, and OPT's options.
    case opaque([UInt8])
}

/// One resource record. For OPT (RFC 6891) `rclass` is the sender's UDP payload size and `ttl` holds
/// the extended rcode, version and flags.
public struct DNSRecord: Equatable, Sendable {
    public var name: DNSName
    public var type: DNSType
    public var rclass: UInt16
    public var ttl: UInt32
    public var data: DNSRData

    public init(name: DNSName, type: DNSType, rclass: UInt16 = DNSClass.internet, ttl: UInt32, data: DNSRData)
    {
        self.name = name
        self.type = type
        self.rclass = rclass
        self.ttl = ttl
        self.data = data
    }

    /// An OPT pseudo-record advertising `udpSize`.
    public static func opt(udpSize: UInt16) -> DNSRecord {
        DNSRecord(name: .root, type: .opt, rclass: udpSize, ttl: 0, data: .opaque([]))
    }
}

public struct DNSQuestion: Equatable, Sendable {
    public var name: DNSName
    public var type: DNSType
    public var qclass: UInt16

    public init(name: DNSName, type: DNSType, qclass: UInt16 = DNSClass.internet) {
        self.name = name
        self.type = type
        self.qclass = qclass
    }
}

extension WireReader {
    mutating func question() throws(DNSError) -> DNSQuestion {
        DNSQuestion(name: try name(), type: DNSType(rawValue: try u16()), qclass: try u16())
    }

    mutating func record() throws(DNSError) -> DNSRecord {
        let name = try name()
        let type = DNSType(rawValue: try u16())
        let rclass = try u16()
        let ttl = try u32()
        let length = Int(try u16())
        let start = offset
        guard offset + length <= bytes.count else { throw .truncated(at: offset) }
        let data: DNSRData
        switch type {
        case .a:
            guard length == 4 else { throw .badRecordLength(at: start) }
            data = .a(IPv4Address(try u32()))
        case .aaaa:
            guard length == 16 else { throw .badRecordLength(at: start) }
            data = .aaaa(try bytes(16))
        case .cname, .ptr, .ns:
            data = .name(try self.name())
        case .srv:
            data = .srv(priority: try u16(), weight: try u16(), port: try u16(), target: try self.name())
        case .soa:
            data = .soa(
                DNSSOA(
                    primary: try self.name(), mailbox: try self.name(), serial: try u32(), refresh: try u32(),
                    retry: try u32(), expire: try u32(), minimum: try u32()))
        case .txt:
            var strings: [[UInt8]] = []
            while offset < start + length {
                let count = Int(try u8())
                guard offset + count <= start + length else { throw .badRecordLength(at: start) }
                strings.append(try bytes(count))
            }
            data = .txt(strings)
        default:
            data = .opaque(try bytes(length))
        }
        guard offset == start + length else { throw .badRecordLength(at: start) }
        return DNSRecord(name: name, type: type, rclass: rclass, ttl: ttl, data: data)
    }
}
