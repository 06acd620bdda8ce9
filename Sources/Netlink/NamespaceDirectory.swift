import CNetlinkRoute
import Glibc

/// Namespaces bound to files in one directory, the way `ip netns add` binds them under
/// /run/netns. The agent keeps its own directory (lab nodes share one mount namespace, so
/// /run/netns would be shared between them).
public struct NamespaceDirectory: Sendable, Hashable {
    public let path: String

    /// /run/netns: the namespaces `ip netns` sees.
    public static let system = NamespaceDirectory(NetworkNamespace.runDirectory)

    public init(_ path: String) { self.path = path }

    /// The namespace bound as `name` here (whether or not it exists yet).
    public func namespace(_ name: String) -> NetworkNamespace { .path(path + "/" + name) }

    /// Makes a fresh namespace and binds it as `name`; fails with isAlreadyExists when the name
    /// is taken. The directory is created (one level) and made a shared mount point, as
    /// iproute2 does, so the binding propagates to other mount namespaces.
    @discardableResult
    public func create(_ name: String) async throws(NetlinkError) -> NetworkNamespace {
        try Self.validate(name)
        let directory = path
        try await WorkerPool.shared.next().run { () throws(NetlinkError) in
            try Self.createOnThisThread(directory: directory, name: name)
        }
        return namespace(name)
    }

    /// Opens `name` and holds it by descriptor.
    public func open(_ name: String) throws(NetlinkError) -> NamespaceHandle {
        try Self.validate(name)
        return try NamespaceHandle(namespace(name))
    }

    /// Unmounts and removes `name`; the namespace lives on while something still uses it.
    /// Fails with isNotFound when there is no such name.
    public func delete(_ name: String) throws(NetlinkError) {
        try Self.validate(name)
        let file = path + "/" + name
        if umount2(file, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw .lastErrno("unmount \(file)")
        }
        guard unlink(file) == 0 else { throw .lastErrno("remove \(file)") }
    }

    /// The names bound here, sorted; empty when the directory does not exist.
    public func list() throws(NetlinkError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw .lastErrno("list \(path)")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// A name is one path component: not empty, no "/", not "." or "..", at most 255 bytes.
    static func validate(_ name: String) throws(NetlinkError) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", name.utf8.count <= 255,
            !name.utf8.contains(0)
        else {
            throw .errno(
                EINVAL, "namespace name \"\(name)\"",
                detail: "must be one path component (no '/', not '.' or '..', 1-255 bytes)")
        }
    }

    /// Must run on a WorkerThread: it unshares the thread's namespace, binds it, and moves back.
    static func createOnThisThread(directory: String, name: String) throws(NetlinkError) {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw .lastErrno("create \(directory)") }
        try makeSharedMount(directory)
        let file = directory + "/" + name
        let fd = Glibc.open(file, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .lastErrno("create \(file)") }
        close(fd)
        let original: Int32
        do throws(NetlinkError) {
            original = try NetworkNamespace.current.openDescriptor()
        } catch {
            unlink(file)
            throw error
        }
        defer { close(original) }
        guard shoal_unshare_net() == 0 else {
            let error = NetlinkError.lastErrno("unshare network namespace")
            unlink(file)
            throw error
        }
        let bound = mount("/proc/thread-self/ns/net", file, "none", UInt(MS_BIND), nil) == 0
        let bindError = bound ? nil : NetlinkError.lastErrno("bind namespace to \(file)")
        do throws(NetlinkError) {
            try NetworkNamespace.returnToOriginal(original, from: .path(file))
        } catch {
            if bound { umount2(file, Int32(MNT_DETACH)) }
            unlink(file)
            throw error
        }
        if let bindError {
            unlink(file)
            throw bindError
        }
    }

    /// Like iproute2: make the directory a shared mount point, bind-mounting it onto itself first
    /// when it is not a mount point yet.
    private static func makeSharedMount(_ directory: String) throws(NetlinkError) {
        if mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 { return }
        guard errno == EINVAL else { throw .lastErrno("make \(directory) shared") }
        guard mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) == 0 else {
            throw .lastErrno("bind \(directory)")
        }
        guard mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 else {
            throw .lastErrno("make \(directory) shared")
        }
    }
}

/// Creating and deleting namespaces under /run/netns, the way `ip netns add/delete` does.
public enum NamedNamespaces {
    public static func create(_ name: String) async throws(NetlinkError) {
        try await NamespaceDirectory.system.create(name)
    }

    public static func delete(_ name: String) throws(NetlinkError) {
        try NamespaceDirectory.system.delete(name)
    }

    /// Names of the namespaces under /run/netns.
    public static func list() -> [String] {
        (try? NamespaceDirectory.system.list()) ?? []
    }
}
