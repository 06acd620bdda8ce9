import Glibc

/// A netlink message under construction: nlmsghdr, the family's fixed header, then attributes.
/// It grows as needed (no fixed buffer) and every put checks that the lengths fit their fields,
/// so a value too large for netlink is an error naming it, never a truncated message.
struct MessageBuilder {
    private(set) var bytes: [UInt8]
    private var nests: [Int] = []

    /// `fixed` is the family header after nlmsghdr (ndmsg, genlmsghdr, nfgenmsg...).
    init(type: UInt16, flags: UInt16, fixed: [UInt8]) {
        bytes = [UInt8](repeating: 0, count: 16)
        Pipeline.store(type, in: &bytes, at: 4)
        Pipeline.store(flags, in: &bytes, at: 6)
        bytes += fixed
        pad()
    }

    private mutating func pad() {
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
    }

    /// One attribute; its payload is padded to 4 bytes.
    mutating func put(_ type: UInt16, _ payload: [UInt8]) throws(NetlinkError) {
        guard payload.count + 4 <= Int(UInt16.max) else {
            throw .errno(EMSGSIZE, "build netlink message", detail: "attribute \(type) too long")
        }
        bytes += [UInt8(truncatingIfNeeded: payload.count + 4), UInt8((payload.count + 4) >> 8)]
        bytes += [UInt8(truncatingIfNeeded: type), UInt8(type >> 8)]
        bytes += payload
        pad()
    }

    mutating func put8(_ type: UInt16, _ value: UInt8) throws(NetlinkError) { try put(type, [value]) }
    mutating func put16(_ type: UInt16, _ value: UInt16) throws(NetlinkError) {
        try put(type, withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }
    mutating func put32(_ type: UInt16, _ value: UInt32) throws(NetlinkError) {
        try put(type, withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }
    /// Network byte order (ports, IPv4 masks).
    mutating func putBig16(_ type: UInt16, _ value: UInt16) throws(NetlinkError) {
        try put(type, withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }
    mutating func putBig32(_ type: UInt16, _ value: UInt32) throws(NetlinkError) {
        try put(type, withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }
    /// A NUL-terminated string; `maxLength` counts the NUL, as the kernel's *_MAXLEN do.
    mutating func putString(_ type: UInt16, _ value: String, maxLength: Int? = nil, what: String)
        throws(NetlinkError)
    {
        let payload = Array(value.utf8) + [0]
        if let maxLength, payload.count > maxLength {
            throw .errno(
                EINVAL, "build netlink message",
                detail: "\(what) \"\(value)\" is longer than \(maxLength - 1) bytes")
        }
        if value.utf8.contains(0) {
            throw .errno(EINVAL, "build netlink message", detail: "\(what) contains a NUL byte")
        }
        try put(type, payload)
    }

    /// Starts a nested attribute (NLA_F_NESTED); close it with `endNest`.
    mutating func beginNest(_ type: UInt16) {
        nests.append(bytes.count)
        bytes += [0, 0, UInt8(truncatingIfNeeded: type), UInt8(type >> 8) | 0x80]
    }

    mutating func endNest() throws(NetlinkError) {
        guard let start = nests.popLast() else { return }
        let length = bytes.count - start
        guard length <= Int(UInt16.max) else {
            throw .errno(EMSGSIZE, "build netlink message", detail: "nested attribute too long")
        }
        Pipeline.store(UInt16(length), in: &bytes, at: start)
    }

    /// The finished message, its length field set.
    var message: [UInt8] {
        var result = bytes
        Pipeline.store32(UInt32(result.count), in: &result, at: 0)
        return result
    }
}
