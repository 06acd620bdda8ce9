import Glibc

/// Binding the listener sockets a caller made (the agent makes them inside a task's namespace; a
/// socket keeps the namespace it was made in, so binding and listening can happen on any thread).
public enum ListenerSockets {
    /// Binds `udp` and binds and listens on `tcp` at `address:port`. On failure both are closed.
    public static func bind(udp: Int32, tcp: Int32, address: String, port: UInt16) throws(DNSSocketError) {
        do throws(DNSSocketError) {
            try bind(udp, address: address, port: port)
            try bind(tcp, address: address, port: port)
            guard listen(tcp, 128) == 0 else { throw DNSSocketError(call: "listen", errno: errno) }
        } catch {
            close(udp)
            close(tcp)
            throw error
        }
    }

    private static func bind(_ fd: Int32, address: String, port: UInt16) throws(DNSSocketError) {
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else {
            throw DNSSocketError(call: "inet_pton \(address)", errno: EINVAL)
        }
        let status = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else { throw DNSSocketError(call: "bind \(address):\(port)", errno: errno) }
    }
}
