import CNetlinkRoute
import Glibc

/// Which network namespace a socket works in.
public enum NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The namespace of the process (the host namespace for the agent).
    case current
    /// A namespace bound under /run/netns, as `ip netns add NAME` makes it.
    case named(String)
    /// Any file that refers to a namespace, e.g. /proc/PID/ns/net.
    case path(String)

    public static let runDirectory = "/run/netns"

    /// The file to open for setns, nil for the current namespace.
    public var path: String? {
        switch self {
        case .current: nil
        case .named(let name): NetworkNamespace.runDirectory + "/" + name
        case .path(let path): path
        }
    }

    public var description: String {
        switch self {
        case .current: "current namespace"
        case .named(let name): "netns \(name)"
        case .path(let path): "netns at \(path)"
        }
    }

    /// Opens the namespace file (O_RDONLY, close-on-exec); the caller closes it.
    func openDescriptor() throws(NetlinkError) -> Int32 {
        let file = path ?? "/proc/thread-self/ns/net"
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastErrno("open \(file)") }
        return fd
    }

    /// Runs `body` with the calling thread inside this namespace, then moves the thread back.
    ///
    /// Sockets made in `body` stay in this namespace. Call it only on a thread we own
    /// (a WorkerThread): the thread is moved for the duration of `body`.
    func withEntered<T>(_ body: () throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        guard path != nil else { return try body() }
        let original = try NetworkNamespace.current.openDescriptor()
        defer { close(original) }
        let target = try openDescriptor()
        defer { close(target) }
        guard shoal_setns_net(target) == 0 else { throw .lastErrno("enter \(self)") }
        defer {
            // Staying in the wrong namespace would silently program the wrong kernel state.
            if shoal_setns_net(original) != 0 {
                fatalError("cannot return to the original network namespace (errno \(errno))")
            }
        }
        return try body()
    }
}

/// Creating and deleting named namespaces the way `ip netns add/delete` does.
public enum NamedNamespaces {
    /// Creates /run/netns/NAME bound to a fresh network namespace.
    public static func create(_ name: String) async throws(NetlinkError) {
        let worker = WorkerThread(name: "shoal-netns-create")
        try await worker.run { () throws(NetlinkError) in try createOnThisThread(name) }
    }

    /// Unmounts and removes /run/netns/NAME; the namespace lives on while something uses it.
    public static func delete(_ name: String) throws(NetlinkError) {
        let path = NetworkNamespace.named(name).path ?? ""
        if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw .lastErrno("unmount \(path)")
        }
        guard unlink(path) == 0 else { throw .lastErrno("remove \(path)") }
    }

    /// Names of the namespaces under /run/netns.
    public static func list() -> [String] {
        guard let dir = opendir(NetworkNamespace.runDirectory) else { return [] }
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

    /// Must run on a thread we own: it unshares the thread's namespace, binds it, and moves back.
    static func createOnThisThread(_ name: String) throws(NetlinkError) {
        let dir = NetworkNamespace.runDirectory
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw .lastErrno("create \(dir)") }
        // Like iproute2: make /run/netns a shared mount point so the bind mounts propagate.
        if mount("", dir, "none", UInt(MS_SHARED | MS_REC), nil) != 0 {
            guard errno == EINVAL else { throw .lastErrno("make \(dir) shared") }
            guard mount(dir, dir, "none", UInt(MS_BIND | MS_REC), nil) == 0 else {
                throw .lastErrno("bind \(dir)")
            }
            guard mount("", dir, "none", UInt(MS_SHARED | MS_REC), nil) == 0 else {
                throw .lastErrno("make \(dir) shared")
            }
        }
        let path = dir + "/" + name
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .lastErrno("create \(path)") }
        close(fd)
        let original = try NetworkNamespace.current.openDescriptor()
        defer { close(original) }
        guard shoal_unshare_net() == 0 else {
            let error = NetlinkError.lastErrno("unshare network namespace")
            unlink(path)
            throw error
        }
        let bound = mount("/proc/thread-self/ns/net", path, "none", UInt(MS_BIND), nil) == 0
        let bindError = bound ? nil : NetlinkError.lastErrno("bind namespace to \(path)")
        if shoal_setns_net(original) != 0 {
            fatalError("cannot return to the original network namespace (errno \(errno))")
        }
        if let bindError {
            unlink(path)
            throw bindError
        }
    }
}
