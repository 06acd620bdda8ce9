import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why the data directory could not be locked.
public enum DataDirectoryLockError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another live process holds the lock; `pid` is what it wrote into the lock file (nil: unreadable).
    case held(directory: String, pid: Int32?)
    /// The lock file could not be opened or locked; carries the errno.
    case system(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .held(let directory, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return
                "\(directory) is in use by \(holder) (another shoald manager?); stop it first: two managers on one data directory corrupt the store"
        case .system(let path, let operation, let errno):
            return "\(path): \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

/// An exclusive lock on a data directory (`<dir>/shoald.lock`), held while the process lives.
/// It is a `flock`: the kernel drops it when the holder exits or dies, so a lock file left by a
/// dead process is stale by construction and the next start takes it over.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    public static func path(_ directory: String) -> String { directory + "/shoald.lock" }

    /// Takes the lock or throws `.held` at once (never waits); creates the directory 0700 if missing.
    public init(directory: String) throws(DataDirectoryLockError) {
        let path = Self.path(directory)
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .system(path: directory, operation: "mkdir", errno: errno)
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readPID(fd)
            close(fd)
            if code == EWOULDBLOCK { throw .held(directory: directory, pid: holder) }
            throw .system(path: path, operation: "flock", errno: code)
        }
        // The holder's pid, for the message another start prints.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.path = path
        self.descriptor = fd
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(
            String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }

    deinit { close(descriptor) }
}
