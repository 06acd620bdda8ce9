import Foundation
import Logging
import Testing

@testable import ShoalCore

#if canImport(Glibc)
    import Glibc
#endif

/// Stopping the manager's HTTP servers while clients connect: connections the kernel accepted but
/// the server had not yet taken must not crash the process (NIO traps on an NIOAsyncChannel that
/// nobody finished; cancelling the server task outright did that).
@Suite struct GracefulServersTests {
    /// Opens `count` TCP connections to 127.0.0.1:`port` without waiting for any answer.
    func connectMany(_ count: Int, port: Int) -> [Int32] {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var sockets: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { break }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            sockets.append(fd)
        }
        return sockets
    }

    @Test func stoppingWhileClientsConnectEndsTheServerWithoutACrash() async throws {
        for _ in 0..<5 {
            let h = try await Harness.make()
            let (ports, bound) = AsyncStream<Int>.makeStream()
            let app = ManagerAPI.application(manager: h.manager, host: "127.0.0.1", port: 0) {
                bound.yield($0)
            }
            var logger = Logger(label: "test.graceful")
            logger.logLevel = .critical
            let server = Task { try await GracefulServers.run([app], grace: .seconds(1), logger: logger) }
            var port = 0
            for await bound in ports {
                port = bound
                break
            }
            try #require(port > 0)
            // Connections queue in the listener's backlog and in NIO's accepted-channel stream; the
            // stop comes while they do.
            let sockets = connectMany(300, port: port)
            server.cancel()
            // Ends (a crash here kills the test process: what this test is for).
            _ = try? await server.value
            for fd in sockets { close(fd) }
            // The listener is closed once the server has ended.
            let late = connectMany(1, port: port)
            var pollfd = Glibc.pollfd(fd: late[0], events: Int16(POLLOUT), revents: 0)
            _ = poll(&pollfd, 1, 2000)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(late[0], SOL_SOCKET, SO_ERROR, &error, &length)
            #expect(error == ECONNREFUSED, "the listener still accepted after the stop (SO_ERROR \(error))")
            close(late[0])
        }
    }
}
