import Foundation
import Glibc
import Synchronization

/// The agent's admin API: HTTP/1.0 GET on a unix socket that only root can open (mode 0600).
/// `GET /v1/state` is the data plane's snapshot: desired state, what was applied, the tasks and
/// the last errors; `GET /v1/programmed` when each peer's FDB entry was first programmed. Served
/// from its own thread, from bytes the data plane publishes.
public final class AdminServer: Sendable {
    public let path: String
    private let listener: Int32

    /// `idleSeconds`: how long one client may take to send its request or read the answer; the
    /// server answers one connection at a time, so a client that stalls must not hold it.
    public init(path: String, idleSeconds: Double = 10, routes: [String: @Sendable () -> [UInt8]])
        throws(DataPlaneError)
    {
        self.path = path
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.error("create the admin socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw DataPlaneError("bind \(path)", reason: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // The mode is set before anyone can connect: bind under a 0177 umask.
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(previous)
        guard bound == 0, listen(fd, 16) == 0 else {
            let failure = Self.error("bind \(path)")
            close(fd)
            throw failure
        }
        listener = fd
        let thread = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    switch errno {
                    case EINTR, ECONNABORTED, EPROTO: continue
                    // Out of descriptors or memory: wait and go on, the API must not die of it.
                    case EMFILE, ENFILE, ENOBUFS, ENOMEM: usleep(100_000)
                    default: return  // the listener was closed (deinit)
                    }
                    continue
                }
                Self.limit(connection, seconds: idleSeconds)
                Self.serve(connection, routes: routes)
                close(connection)
            }
        }
        thread.name = "shoal-admin"
        thread.start()
    }

    /// Reads and writes on the connection fail after `seconds` without progress.
    static func limit(_ fd: Int32, seconds: Double) {
        var value = timeval(
            tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        let size = socklen_t(MemoryLayout<timeval>.size)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size)
    }

    static func serve(_ fd: Int32, routes: [String: @Sendable () -> [UInt8]]) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while request.count < 8192 {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            request += buffer[..<count]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let (status, body): (String, [UInt8])
        if parts.count >= 2, parts[0] == "GET", let route = routes[String(parts[1])] {
            (status, body) = ("200 OK", route())
        } else {
            let paths = routes.keys.sorted().joined(separator: ", ")
            (status, body) = ("404 Not Found", Array("{\"reason\":\"the agent serves GET \(paths)\"}".utf8))
        }
        let head =
            "HTTP/1.0 \(status)\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\n\r\n"
        let response = Array(head.utf8) + body
        var written = 0
        while written < response.count {
            let count = response[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            written += count
        }
    }

    /// Waits on the admin thread for an async answer (the data plane is an actor).
    public static func blocking(_ body: @escaping @Sendable () async -> [UInt8]) -> [UInt8] {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<[UInt8]>([])
        Task {
            let bytes = await body()
            result.withLock { $0 = bytes }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }

    static func error(_ operation: String) -> DataPlaneError {
        let code = errno
        return DataPlaneError(operation, errno: code, reason: String(cString: strerror(code)))
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }
}
