/// A record type (RFC 1035 3.2.2 and later RFCs); unknown types keep their number.
public struct DNSType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSType(rawValue: 1)
    public static let ns = DNSType(rawValue: 2)
    public static let cname = DNSType(rawValue: 5)
    public static let soa = DNSType(rawValue: 6)
    public static let ptr = DNSType(rawValue: 12)
    public static let mx = DNSType(rawValue: 15)
    public static let txt = DNSType(rawValue: 16)
    public static let aaaa = DNSType(rawValue: 28)
    public static let srv = DNSType(rawValue: 33)
    public static let opt = DNSType(rawValue: 41)
    public static let any = DNSType(rawValue: 255)

    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .ptr: "PTR"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .srv: "SRV"
        case .opt: "OPT"
        case .any: "ANY"
        default: "TYPE\(rawValue)"
        }
    }
}

/// Response codes a resolver uses (RFC 1035 4.1.1).
public enum DNSRCode: UInt8, Sendable {
    case noError = 0
    case formErr = 1
    case servFail = 2
    case nxDomain = 3
    case notImp = 4
    case refused = 5
}

public enum DNSClass {
    public static let internet: UInt16 = 1
    public static let any: UInt16 = 255
}

/// Sizes from RFC 1035 and RFC 6891.
public enum DNSLimits {
    /// UDP answers without EDNS.
    public static let classicUDPSize = 512
    /// What Shoal advertises and the most it sends over UDP (the DNS flag day 2020 value: no fragments).
    public static let maxUDPSize = 1232
    public static let headerSize = 12
}
