/// A domain name as its labels, case kept as received. Compare with `key` (lowercased ASCII).
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public var labels: [[UInt8]]

    public static let root = DNSName(labels: [])

    public init(labels: [[UInt8]]) { self.labels = labels }

    /// Parses dotted text ("web.front", with or without the final dot).
    public init(_ text: String) throws(DNSError) {
        var trimmed = Substring(text)
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty {
            labels = []
            return
        }
        var labels: [[UInt8]] = []
        var wireLength = 1
        for part in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(part.utf8)
            guard !bytes.isEmpty, bytes.count <= 63 else { throw .invalidName(text) }
            wireLength += bytes.count + 1
            labels.append(bytes)
        }
        guard wireLength <= 255 else { throw .invalidName(text) }
        self.labels = labels
    }

    /// Dotted, without the final dot; the root is ".".
    public var description: String {
        labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".")
    }

    /// Lowercased dotted text, the form record tables and caches are keyed by.
    public var key: String {
        var bytes: [UInt8] = []
        for (index, label) in labels.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ".")) }
            for byte in label { bytes.append(lowercasedASCII(byte)) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Bytes on the wire without compression.
    public var wireLength: Int { labels.reduce(1) { $0 + $1.count + 1 } }
}

@inline(__always)
func lowercasedASCII(_ byte: UInt8) -> UInt8 {
    byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
}
