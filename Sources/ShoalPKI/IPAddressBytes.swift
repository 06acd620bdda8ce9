#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// IPv4/IPv6 literals as the network-order bytes an X.509 iPAddress name holds.
enum IPAddressBytes {
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = [UInt8](repeating: 0, count: 4)
        if v4.withUnsafeMutableBytes({ inet_pton(AF_INET, text, $0.baseAddress) }) == 1 {
            return v4
        }
        var v6 = [UInt8](repeating: 0, count: 16)
        if v6.withUnsafeMutableBytes({ inet_pton(AF_INET6, text, $0.baseAddress) }) == 1 {
            return v6
        }
        return nil
    }

    static func format(_ bytes: some Collection<UInt8>) -> String {
        let array = Array(bytes)
        if array.count == 4 {
            return array.map(String.init).joined(separator: ".")
        }
        if array.count == 16 {
            var buffer = [CChar](repeating: 0, count: 64)
            let ok = array.withUnsafeBytes { source in
                inet_ntop(AF_INET6, source.baseAddress, &buffer, socklen_t(buffer.count)) != nil
            }
            if ok {
                return String(
                    decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        return Hex.encode(array)
    }
}
