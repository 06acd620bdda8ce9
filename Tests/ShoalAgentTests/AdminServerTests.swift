import Foundation
import Glibc
import ShoalAgent
import Testing

/// The agent's admin socket answers one connection at a time: a client that connects and sends
/// nothing must not keep the next one from being answered.
@Suite struct AdminServerTests {
    /// A connected unix socket whose reads give up after 10 s (a hang fails the test, not the run).
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(connected == 0, "connect \(path): errno \(errno)")
        return fd
    }

    static func get(_ path: String, _ route: String) throws -> String {
        let fd = try connect(path)
        defer { close(fd) }
        let request = Array("GET \(route) HTTP/1.0\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test func aSilentClientDoesNotHoldTheSocket() throws {
        let path = NSTemporaryDirectory() + "admin-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try AdminServer(
            path: path, idleSeconds: 0.3, routes: ["/v1/x": { Array("{\"x\":1}".utf8) }])
        defer { withExtendedLifetime(server) {} }
        let silent = try Self.connect(path)
        defer { close(silent) }
        let answer = try Self.get(path, "/v1/x")
        #expect(answer.hasPrefix("HTTP/1.0 200 OK"), "\(answer)")
        #expect(answer.hasSuffix("{\"x\":1}"))
        #expect(try Self.get(path, "/nope").hasPrefix("HTTP/1.0 404"))
    }
}
