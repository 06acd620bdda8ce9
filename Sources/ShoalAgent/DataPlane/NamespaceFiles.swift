import Foundation
import Glibc

/// Network namespaces kept as bind mounts under the agent's own run directory (not /run/netns:
/// lab nodes share one mount namespace, and Docker keeps its own under its run directory too).
public struct NamespaceFiles: Sendable {
    public let directory: String

    public init(runDirectory: String) { directory = runDirectory + "/netns" }

    public func path(_ name: String) -> String { directory + "/" + name }

    /// Makes the directory a shared mount point, as iproute2 does for /run/netns, so an unmount
    /// here also leaves the mount namespaces of tasks started later (they are slaves of this one).
    public func prepare() throws(DataPlaneError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataPlaneError("create \(directory)", reason: "\(error)")
        }
        if mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 { return }
        guard Glibc.errno == EINVAL else { throw systemError("make \(directory) shared") }
        guard mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) == 0 else {
            throw systemError("bind \(directory)")
        }
        guard mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 else {
            throw systemError("make \(directory) shared")
        }
    }

    /// Names of the namespace files present.
    public func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// True when the file is a live namespace (a bind mount: another device than its directory),
    /// not a leftover empty file.
    public func isMounted(_ name: String) -> Bool {
        var file = stat()
        var parent = stat()
        guard stat(path(name), &file) == 0, stat(directory, &parent) == 0 else { return false }
        return file.st_dev != parent.st_dev
    }

    /// A fresh network namespace bound at `name`. util-linux's `unshare --net=FILE` does the
    /// unshare and the bind mount in a child process, so no thread of ours changes namespace.
    public func create(_ name: String) throws(DataPlaneError) {
        let file = path(name)
        if isMounted(name) { return }
        let fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw systemError("create \(file)") }
        close(fd)
        try runTool(["unshare", "--net=" + file, "true"], what: "create network namespace \(file)")
    }

    /// Unmounts and removes; the kernel frees the namespace (and its devices) once nothing uses it.
    public func delete(_ name: String) throws(DataPlaneError) {
        let file = path(name)
        if umount2(file, Int32(MNT_DETACH)) != 0 && Glibc.errno != EINVAL && Glibc.errno != ENOENT {
            throw systemError("unmount \(file)")
        }
        if unlink(file) != 0 && Glibc.errno != ENOENT { throw systemError("remove \(file)") }
    }

    func systemError(_ operation: String) -> DataPlaneError {
        let code = Glibc.errno
        return DataPlaneError(operation, errno: code, reason: String(cString: strerror(code)))
    }
}

/// Runs a helper program to completion; a non-zero exit is an error with its stderr.
@discardableResult
func runTool(_ arguments: [String], what: String, input: String? = nil) throws(DataPlaneError) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    let stdin = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = stdin
    do {
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
    } catch {
        throw DataPlaneError(what, reason: "cannot run \(arguments[0]): \(error)")
    }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let message = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw DataPlaneError(what, reason: "\(arguments[0]) exited \(process.terminationStatus): \(message)")
    }
    return String(decoding: out, as: UTF8.self)
}
