import Foundation
import Glibc
import Netlink

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

    /// A fresh network namespace bound at `name`, made in-process by Netlink's NamespaceDirectory
    /// (a worker thread unshares, binds /proc/thread-self/ns/net there and moves back): no helper
    /// process to spawn and wait for, which was most of a task's setup time.
    public func create(_ name: String) async throws(DataPlaneError) {
        if isMounted(name) { return }
        // A leftover file of a namespace that is gone (an unmount without the unlink).
        if unlink(path(name)) != 0 && Glibc.errno != ENOENT {
            throw systemError("remove stale \(path(name))")
        }
        do {
            try await NamespaceDirectory(directory).create(name)
        } catch {
            throw DataPlaneError(
                "create network namespace \(path(name))", errno: error.errno, reason: "\(error)")
        }
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

/// Runs a helper program (from PATH) to completion; a non-zero exit is an error with its stderr.
/// posix_spawn and waitpid on that one pid, not Foundation's Process, whose exit monitoring needs
/// a run-loop socket pair and was seen to miss a child's exit.
@discardableResult
public func runTool(_ arguments: [String], what: String, input: String? = nil) throws(DataPlaneError)
    -> String
{
    let scratch = NSTemporaryDirectory() + "shoal-tool-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    let files = (input: scratch + ".in", output: scratch + ".out", errors: scratch + ".err")
    defer { for file in [files.input, files.output, files.errors] { unlink(file) } }
    guard FileManager.default.createFile(atPath: files.input, contents: Data((input ?? "").utf8)) else {
        throw DataPlaneError(what, reason: "cannot write \(files.input)")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, files.input, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, files.output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, files.errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var pid: pid_t = 0
    let spawned = TaskLauncher.withCStrings(arguments) { argv in
        posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
    }
    guard spawned == 0 else {
        throw DataPlaneError(
            what, errno: spawned, reason: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: files.output, encoding: .utf8)) ?? ""
    guard ExitStatus(waitStatus: status) == .exited(0) else {
        let message = ((try? String(contentsOfFile: files.errors, encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        throw DataPlaneError(
            what, reason: "\(arguments[0]) ended with \(ExitStatus(waitStatus: status)): \(message)")
    }
    return output
}
