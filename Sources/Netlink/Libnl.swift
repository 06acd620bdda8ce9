import CNetlinkRoute
import Glibc

/// Small bridges between libnl's C objects and Swift values.
enum Libnl {
    static func check(_ returnValue: Int32, _ operation: @autoclosure () -> String) throws(NetlinkError) {
        if returnValue < 0 { throw NetlinkError.libnl(returnValue, operation()) }
    }

    /// A new nl_addr (reference owned by the caller: nl_addr_put).
    static func address(_ ip: IPAddress, prefixLength: UInt8? = nil) throws(NetlinkError) -> OpaquePointer {
        let bytes = ip.bytes
        let made = bytes.withUnsafeBytes { nl_addr_build(ip.family, $0.baseAddress, $0.count) }
        guard let made else { throw NetlinkError.errno(ENOMEM, "build address \(ip)") }
        nl_addr_set_prefixlen(made, Int32(prefixLength ?? ip.hostPrefixLength))
        return made
    }

    static func address(_ mac: LinkLayerAddress) throws(NetlinkError) -> OpaquePointer {
        let made = mac.bytes.withUnsafeBytes { nl_addr_build(AF_LLC, $0.baseAddress, $0.count) }
        guard let made else { throw NetlinkError.errno(ENOMEM, "build address \(mac)") }
        return made
    }

    static func bytes(_ address: OpaquePointer?) -> [UInt8]? {
        guard let address, let raw = nl_addr_get_binary_addr(address) else { return nil }
        let length = Int(nl_addr_get_len(address))
        return Array(UnsafeRawBufferPointer(start: raw, count: length))
    }

    static func ipAddress(_ address: OpaquePointer?) -> IPAddress? {
        guard let bytes = bytes(address) else { return nil }
        return IPAddress(bytes: bytes)
    }

    static func macAddress(_ address: OpaquePointer?) -> LinkLayerAddress? {
        guard let bytes = bytes(address) else { return nil }
        return LinkLayerAddress(bytes: bytes)
    }

    /// The objects of a cache, in order (borrowed: valid while the cache lives).
    static func objects(_ cache: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            result.append(current)
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// The bytes of a built message, header included.
    static func messageBytes(_ message: OpaquePointer) -> [UInt8] {
        let header = nlmsg_hdr(message)
        let length = Int(header?.pointee.nlmsg_len ?? 0)
        guard let header else { return [] }
        return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(header), count: length))
    }
}
