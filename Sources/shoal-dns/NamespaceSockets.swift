import Foundation
import Glibc
import ShoalDNS

/// Makes the listener sockets inside a network namespace: a thread enters the namespace (setns only
/// moves the calling thread), creates and binds both sockets there, and returns. Sockets keep the
/// namespace they were made in. The agent uses Netlink's function for this; this copy serves the netns
/// tests and the benchmark harness.
enum NamespaceSockets {
    static func make(netnsPath: String, address: String, port: UInt16) throws -> (udp: Int32, tcp: Int32) {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        let thread = Thread {
            result.value = Result { try makeHere(netnsPath: netnsPath, address: address, port: port) }
            done.signal()
        }
        thread.start()
        done.wait()
        return try result.value.get()
    }

    private final class ResultBox: @unchecked Sendable {
        // Written by the thread before it signals, read after the wait.
        var value: Result<(udp: Int32, tcp: Int32), any Error> = .failure(
            DNSSocketError(call: "thread", errno: 0))
    }

    private static func makeHere(netnsPath: String, address: String, port: UInt16) throws -> (
        udp: Int32, tcp: Int32
    ) {
        let target = open(netnsPath, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw DNSSocketError(call: "open \(netnsPath)", errno: errno) }
        defer { close(target) }
        guard let setns = setnsFunction, setns(target, cloneNewNet) == 0 else {
            throw DNSSocketError(call: "setns \(netnsPath)", errno: errno)
        }
        let udp = try socketHere(type: Int32(SOCK_DGRAM.rawValue))
        let tcp: Int32
        do {
            tcp = try socketHere(type: Int32(SOCK_STREAM.rawValue))
        } catch {
            close(udp)
            throw error
        }
        try ListenerSockets.bind(udp: udp, tcp: tcp, address: address, port: port)
        return (udp, tcp)
    }

    /// Glibc's module map leaves out setns (it is behind _GNU_SOURCE), so it is looked up by name.
    private static let cloneNewNet: Int32 = 0x4000_0000
    private static let setnsFunction: (@convention(c) (Int32, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "setns") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()

    private static func socketHere(type: Int32) throws -> Int32 {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DNSSocketError(call: "socket", errno: errno) }
        return fd
    }
}
