import Glibc

/// The small files a task start writes (resolv.conf, hosts, the process record), written without
/// fsync. Foundation's `Data` and `String` writes fsync every file: three syncs per task start,
/// 0.4-20 ms each on this lab's busy disk, on the path of every new endpoint. None of these files
/// needs to survive a power cut (the workload does not either); an agent crash keeps the page cache.
enum TaskFile {
    static func write(_ text: String, to path: String) throws(DataPlaneError) {
        try write(Array(text.utf8), to: path)
    }

    static func write(_ bytes: [UInt8], to path: String) throws(DataPlaneError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open \(path)") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("write \(path)")
            }
            written += count
        }
    }

    static func failure(_ operation: String) -> DataPlaneError {
        let code = errno
        return DataPlaneError(operation, errno: code, reason: String(cString: strerror(code)))
    }
}
