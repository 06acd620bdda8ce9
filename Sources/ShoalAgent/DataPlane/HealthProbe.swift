import Foundation
import Glibc
import Netlink
import ShoalModel

/// One probe of a task's health check, from inside the task's network namespace: a TCP connect or
/// an HTTP GET to 127.0.0.1 there, or the command under `nsenter --net`. Blocking work runs on a
/// dispatch thread, bounded by the check's timeout, so the agent's actors never wait on a task.
enum HealthProbe {
    /// Nil when the probe passed, otherwise why it failed (what `service ps` shows).
    static func run(_ check: HealthCheck, namespace: String, environment: [String]) async -> String? {
        let timeout = check.effectiveTimeout
        if let http = check.http {
            return await connect(namespace: namespace, port: http.port, timeout: timeout, httpPath: http.path)
        }
        if let port = check.tcpPort {
            return await connect(namespace: namespace, port: port, timeout: timeout, httpPath: nil)
        }
        return await command(check.command, namespace: namespace, environment: environment, timeout: timeout)
    }

    static func connect(namespace: String, port: UInt16, timeout: Double, httpPath: String?) async -> String?
    {
        let fd: Int32
        do {
            fd = try await NetworkNamespace.path(namespace).makeSocket(
                domain: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        } catch {
            return "cannot open a socket in the task's namespace: \(error)"
        }
        return await onThread {
            defer { close(fd) }
            return exchange(
                fd: fd, port: port, deadline: Date().timeIntervalSince1970 + timeout, httpPath: httpPath)
        }
    }

    /// Connects (and for HTTP sends a GET and reads the status line) before the deadline.
    static func exchange(fd: Int32, port: UInt16, deadline: Double, httpPath: String?) -> String? {
        func setTimeouts() -> Bool {
            let left = deadline - Date().timeIntervalSince1970
            guard left > 0 else { return false }
            var value = timeval(tv_sec: Int(left), tv_usec: Int((left - left.rounded(.down)) * 1_000_000))
            let size = socklen_t(MemoryLayout<timeval>.size)
            return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size) == 0
                && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size) == 0
        }
        func failure(_ what: String) -> String {
            let code = errno
            return code == EAGAIN || code == EINPROGRESS
                ? "\(what): timed out" : "\(what): \(String(cString: strerror(code))) (errno \(code))"
        }
        guard setTimeouts() else { return "timed out" }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return failure("connect to 127.0.0.1:\(port)") }
        guard let httpPath else { return nil }
        let request = Array(
            "GET \(httpPath) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: shoal-health\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            guard setTimeouts() else { return "HTTP GET \(httpPath): timed out" }
            let count = request[sent...].withUnsafeBytes {
                send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                return failure("HTTP GET \(httpPath)")
            }
            sent += count
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !answer.contains(UInt8(ascii: "\n")) && answer.count < 4096 {
            guard setTimeouts() else { return "HTTP GET \(httpPath): timed out" }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                return failure("HTTP GET \(httpPath)")
            }
            if count == 0 { break }
            answer += buffer.prefix(count)
        }
        return judge(statusLine: answer, path: httpPath)
    }

    /// 2xx and 3xx pass.
    static func judge(statusLine answer: [UInt8], path: String) -> String? {
        let line = String(
            decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let words = line.split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let status = Int(words[1]) else {
            return "HTTP GET \(path): not an HTTP answer: \(line.prefix(80))"
        }
        return (200..<400).contains(status) ? nil : "HTTP GET \(path): status \(status)"
    }

    static func command(_ command: [String], namespace: String, environment: [String], timeout: Double) async
        -> String?
    {
        await onThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = ["--net=" + namespace, "--"] + command
            var env: [String: String] = [
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            ]
            for entry in environment {
                guard let equals = entry.firstIndex(of: "=") else { continue }
                env[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            }
            process.environment = env
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                return "cannot run \(command.first ?? ""): \(error)"
            }
            let deadline = Date().timeIntervalSince1970 + timeout
            while process.isRunning && Date().timeIntervalSince1970 < deadline { usleep(20_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return "\(command.joined(separator: " ")): timed out after \(timeout) s"
            }
            let code = process.terminationStatus
            return code == 0 ? nil : "\(command.joined(separator: " ")): exit code \(code)"
        }
    }

    static func onThread(_ work: @escaping @Sendable () -> String?) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
