/// An IPv4 prefix such as 10.0.1.0/24.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int

    public init?(address: IPv4Address, prefixLength: Int) {
        guard (0...32).contains(prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// A prefix whose length is clamped into 0...32 (for constants that cannot be wrong).
    public init(network address: IPv4Address, clampedPrefix: Int) {
        self.address = address
        self.prefixLength = min(max(clampedPrefix, 0), 32)
    }

    /// Parses "a.b.c.d/n"; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]),
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public var netmask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << (32 - UInt32(prefixLength)) }
    public var network: IPv4Address { IPv4Address(address.value & netmask) }
    public var broadcast: IPv4Address { IPv4Address(network.value | ~netmask) }
    /// Number of addresses in the prefix, including network and broadcast.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    public func contains(_ ip: IPv4Address) -> Bool { ip.value & netmask == network.value }

    public func overlaps(_ other: CIDR) -> Bool {
        contains(other.network) || other.contains(network)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

extension CIDR: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let cidr = CIDR(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an IPv4 prefix: \(text)")
        }
        self = cidr
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
