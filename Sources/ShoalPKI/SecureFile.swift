#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes and reads credential files: 0600, atomically (temp file + fsync + rename), so a crash never
/// leaves a half-written key and the key is never readable by others, not even for a moment.
public enum SecureFile {
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `mkdir -p` with mode 0700 for the directories it creates.
    public static func makeDirectory(_ path: String) throws(PKIError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw .io(path: current, operation: "mkdir", errno: errno)
            }
        }
    }

    public static func write(_ bytes: [UInt8], to path: String) throws(PKIError) {
        var random = SystemRandomNumberGenerator()
        let temporary =
            path + ".tmp-" + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255, using: &random) })
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw .io(path: temporary, operation: "open", errno: errno)
        }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do throws(PKIError) {
            // The umask can only narrow the mode; fchmod makes it exactly 0600 whatever the umask.
            if fchmod(fd, 0o600) != 0 {
                throw .io(path: temporary, operation: "fchmod", errno: errno)
            }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { buffer in
                    systemWrite(fd, buffer.baseAddress, buffer.count)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw .io(path: temporary, operation: "write", errno: errno)
                }
                offset += written
            }
            if fsync(fd) != 0 {
                throw .io(path: temporary, operation: "fsync", errno: errno)
            }
            closed = true
            if close(fd) != 0 {
                throw .io(path: temporary, operation: "close", errno: errno)
            }
            if rename(temporary, path) != 0 {
                throw .io(path: path, operation: "rename", errno: errno)
            }
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(of: path)
    }

    /// Contents of `path`, or nil when it does not exist. Refuses files readable by group or others.
    public static func read(_ path: String) throws(PKIError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) != 0 {
            throw .io(path: path, operation: "fstat", errno: errno)
        }
        let mode = UInt32(status.st_mode) & 0o777
        if mode & 0o077 != 0 {
            throw .insecureFileMode(path: path, mode: mode)
        }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                systemRead(fd, buffer.baseAddress, buffer.count)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Makes the rename durable; failure here is not fatal (the data itself is already synced).
    private static func syncDirectory(of path: String) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}

// `write`/`read` are shadowed inside `SecureFile` by its own static methods.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
