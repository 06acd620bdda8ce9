import CNetlinkRoute
import Glibc

/// Small bridges between libnl's C objects and Swift values.
enum Libnl {
    /// A libnl setter's result: its failures are bad input (EINVAL) or no memory (ENOMEM), with
    /// libnl's text as the detail.
    static func check(_ returnValue: Int32, _ operation: @autoclosure () -> String) throws(NetlinkError) {
        guard returnValue < 0 else { return }
        let text = nl_geterror(returnValue).map { String(cString: $0) }
        throw NetlinkError.errno(returnValue == -NLE_NOMEM ? ENOMEM : EINVAL, operation(), detail: text)
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

    /// The bytes of a built message, header included.
    static func messageBytes(_ message: OpaquePointer) -> [UInt8] {
        let header = nlmsg_hdr(message)
        let length = Int(header?.pointee.nlmsg_len ?? 0)
        guard let header else { return [] }
        return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(header), count: length))
    }
}
