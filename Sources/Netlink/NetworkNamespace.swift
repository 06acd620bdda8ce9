import CNetlinkRoute
import Glibc

/// Which network namespace a socket works in.
public enum NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The namespace of the process (the host namespace for the agent).
    case current
    /// A namespace bound under /run/netns, as `ip netns add NAME` makes it.
    case named(String)
    /// Any file that refers to a namespace: a bind mount in any directory (NamespaceDirectory),
    /// or /proc/PID/ns/net.
    case path(String)
    /// A namespace held open by descriptor: stays valid however its files are renamed or removed.
    case handle(NamespaceHandle)

    public static let runDirectory = "/run/netns"

    /// The file to open for setns, nil for the current namespace.
    public var path: String? {
        switch self {
        case .current: nil
        case .named(let name): NetworkNamespace.runDirectory + "/" + name
        case .path(let path): path
        case .handle(let handle): "/proc/self/fd/\(handle.descriptor)"
        }
    }

    public var description: String {
        switch self {
        case .current: "current namespace"
        case .named(let name): "netns \(name)"
        case .path(let path): "netns at \(path)"
        case .handle(let handle): "netns \(handle.identity)"
        }
    }

    /// Opens the namespace (O_RDONLY, close-on-exec); the caller closes the descriptor.
    func openDescriptor() throws(NetlinkError) -> Int32 {
        if case .handle(let handle) = self {
            let fd = fcntl(handle.descriptor, F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { throw .lastErrno("duplicate \(self)") }
            return fd
        }
        let file = path ?? "/proc/thread-self/ns/net"
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastErrno("open \(file)") }
        return fd
    }

    /// The namespace's (device, inode): equal for every file that refers to the same namespace.
    public func identity() throws(NetlinkError) -> NamespaceIdentity {
        if case .handle(let handle) = self { return handle.identity }
        let fd = try openDescriptor()
        defer { close(fd) }
        return try NamespaceIdentity(descriptor: fd, describe: description)
    }

    /// Runs `body` with the calling thread inside this namespace, then moves the thread back.
    ///
    /// Sockets made in `body` stay in this namespace. Call it only on a thread we own (a
    /// WorkerThread). If the thread cannot go back, it is marked to retire: its WorkerThread
    /// hands its queue to a fresh thread and ends, and this call fails; the process lives on.
    func withEntered<T>(_ body: () throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        guard path != nil else { return try body() }
        let original = try NetworkNamespace.current.openDescriptor()
        defer { close(original) }
        let target = try openDescriptor()
        defer { close(target) }
        guard shoal_setns_net(target) == 0 else { throw .lastErrno("enter \(self)") }
        let result: Result<T, NetlinkError>
        do throws(NetlinkError) {
            result = .success(try body())
        } catch {
            result = .failure(error)
        }
        try NetworkNamespace.returnToOriginal(original, from: self)
        return try result.get()
    }

    /// Moves the thread back with setns; on failure retires the thread (see withEntered).
    static func returnToOriginal(
        _ original: Int32, from namespace: NetworkNamespace,
        setns: (Int32) -> Int32 = { shoal_setns_net($0) }
    ) throws(NetlinkError) {
        guard setns(original) != 0 else { return }
        let code = errno
        WorkerThread.retireCurrentThread()
        throw .errno(
            code, "return from \(namespace)",
            detail: "the thread stays in the wrong namespace and is retired")
    }
}

/// What identifies a namespace: the (st_dev, st_ino) of its nsfs file, as `stat` reports it
/// for /proc/PID/ns/net or for any bind mount of it.
public struct NamespaceIdentity: Sendable, Hashable, CustomStringConvertible {
    public let device: UInt64
    public let inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(descriptor: Int32, describe: String) throws(NetlinkError) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .lastErrno("stat \(describe)") }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    public var description: String { "dev \(device) inode \(inode)" }
}

/// An open descriptor of a network namespace (O_RDONLY, close-on-exec), closed when the last
/// reference goes. Holding it keeps the namespace alive; handles compare by namespace identity.
public final class NamespaceHandle: Sendable, Hashable {
    public let descriptor: Int32
    public let identity: NamespaceIdentity

    /// Opens `namespace` (any case) and records its identity.
    public init(_ namespace: NetworkNamespace) throws(NetlinkError) {
        let fd = try namespace.openDescriptor()
        do throws(NetlinkError) {
            identity = try NamespaceIdentity(descriptor: fd, describe: namespace.description)
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    public static func == (lhs: NamespaceHandle, rhs: NamespaceHandle) -> Bool {
        lhs.identity == rhs.identity
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(identity) }
}
