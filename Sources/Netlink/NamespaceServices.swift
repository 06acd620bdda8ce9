import Glibc

/// What callers outside this module need done inside a namespace: a socket made there (it stays
/// there for its whole life), and its sysctls. Both run on a WorkerPool thread that enters the
/// namespace and leaves it again.
extension NetworkNamespace {
    /// A new socket made inside this namespace, e.g. `makeSocket(domain: AF_INET, type:
    /// SOCK_DGRAM)` for a DNS server bound inside a task's namespace. SOCK_CLOEXEC is always
    /// added; the caller owns the descriptor and closes it.
    public func makeSocket(domain: Int32, type: Int32, protocol: Int32 = 0) async throws(NetlinkError)
        -> Int32
    {
        try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            try self.withEntered { () throws(NetlinkError) in
                let fd = socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
                guard fd >= 0 else {
                    throw .lastErrno("open socket (domain \(domain), type \(type)) in \(self)")
                }
                return fd
            }
        }
    }

    /// Reads a network sysctl of this namespace, e.g. "net.ipv4.ip_forward" or
    /// "net.ipv4.vs.conntrack"; the value without its trailing newline.
    public func sysctl(_ key: String) async throws(NetlinkError) -> String {
        let file = try Sysctl.file(for: key)
        return try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            try self.withEntered { () throws(NetlinkError) in try Sysctl.read(file) }
        }
    }

    /// Writes a network sysctl of this namespace (as `sysctl -w key=value` inside it would).
    public func setSysctl(_ key: String, to value: String) async throws(NetlinkError) {
        let file = try Sysctl.file(for: key)
        guard !value.contains("\n"), !value.utf8.contains(0) else {
            throw .errno(EINVAL, "set \(key)", detail: "the value must be one line")
        }
        try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            try self.withEntered { () throws(NetlinkError) in try Sysctl.write(value, to: file) }
        }
    }
}

/// /proc/sys/net files. The kernel resolves them against the network namespace of the thread
/// that opens them, which is why the open happens inside the namespace.
enum Sysctl {
    /// "net.ipv4.ip_forward" -> /proc/sys/net/ipv4/ip_forward. Only net.* keys are per namespace;
    /// a key may also be given with "/" separators (needed for interface names with dots).
    static func file(for key: String) throws(NetlinkError) -> String {
        let separator: Character = key.contains("/") ? "/" : "."
        let parts = key.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == "net",
            !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." })
        else {
            throw .errno(
                EINVAL, "sysctl \(key)",
                detail:
                    "only network sysctls (net.*) belong to a namespace; expected e.g. net.ipv4.ip_forward")
        }
        return "/proc/sys/" + parts.joined(separator: "/")
    }

    static func read(_ file: String) throws(NetlinkError) -> String {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastErrno("read \(file)") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var text: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastErrno("read \(file)")
            }
            if count == 0 { break }
            text += buffer.prefix(count)
        }
        while text.last == UInt8(ascii: "\n") { text.removeLast() }
        return String(decoding: text, as: UTF8.self)
    }

    static func write(_ value: String, to file: String) throws(NetlinkError) {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastErrno("write \(file)") }
        defer { close(fd) }
        let bytes = Array(value.utf8) + [UInt8(ascii: "\n")]
        while true {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written >= 0 { return }
            if errno == EINTR { continue }
            throw .lastErrno("write \(value) to \(file)")
        }
    }
}
