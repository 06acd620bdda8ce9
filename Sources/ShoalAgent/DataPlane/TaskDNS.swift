import Foundation
import Glibc
import NIOCore
import NIOPosix
import Netlink
import ShoalDNS
import ShoalModel
import Synchronization

/// Shoal's DNS inside every running task: 127.0.0.11:53, UDP and TCP, made in the task's network
/// namespace and served by one server for the whole node. A listener answers for its own task
/// (the scope), so each task sees only the names of its networks; the rest goes to the node's
/// upstream resolvers through a forwarder whose socket lives in the agent's namespace.
public actor TaskDNS {
    public struct Settings: Sendable {
        /// Upstream resolvers (IP or IP:PORT); empty: the nameservers of `resolvConf`.
        public var upstreams: [String] = []
        /// The node's resolv.conf (read once at start; 127.0.0.11 is never taken from it).
        public var resolvConf = "/etc/resolv.conf"
        /// How long one upstream has to answer before the next (after the last: SERVFAIL).
        public var timeoutMilliseconds: Int64 = 2000
        /// Distinct forwarded questions waiting at once; more get SERVFAIL at once.
        public var maxInFlight = 4096
        public init() {}
    }

    public static let address = "127.0.0.11"
    public static let port: UInt16 = 53

    nonisolated let records: DNSRecordStore
    private let server: DNSServer
    private let forwarder: DNSForwarder?
    private let files: NamespaceFiles
    private let views: AsyncStream<Void>.Continuation
    private nonisolated let pending: PendingView
    private let rebuilder: Task<Void, Never>
    private var listeners: [String: DNSListener] = [:]
    /// Upstreams the forwarder asks, for the admin API and logs.
    public nonisolated let upstreams: [String]

    /// Opens the forwarder's socket (in the calling thread's namespace: the agent's own).
    public init(settings: Settings, files: NamespaceFiles, group: any EventLoopGroup) async throws {
        var servers: [SocketAddress] = []
        for text in settings.upstreams { servers.append(try Self.socketAddress(text)) }
        if settings.upstreams.isEmpty,
            let text = try? String(contentsOfFile: settings.resolvConf, encoding: .utf8)
        {
            servers = ForwarderConfig.nameservers(resolvConf: text)
        }
        upstreams = servers.map { "\($0.ipAddress ?? "?"):\($0.port ?? 53)" }
        forwarder =
            servers.isEmpty
            ? nil
            : try await DNSForwarder.start(
                config: ForwarderConfig(
                    servers: servers, timeout: .milliseconds(settings.timeoutMilliseconds),
                    maxInFlight: settings.maxInFlight),
                group: group)
        let records = DNSRecordStore()
        self.records = records
        self.files = files
        server = DNSServer(group: group, records: records, forwarder: forwarder)
        // The table follows the view off the data plane's path (a burst of feed changes is one
        // step): the objects that changed are applied in place, and a table is built aside and
        // swapped in only for a first or a large change (docs/dns.md has the costs).
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let pending = PendingView()
        self.pending = pending
        views = continuation
        rebuilder = Task.detached {
            var previous: [String: FeedObject] = [:]
            for await _ in stream {
                guard let (view, changed) = pending.take() else { continue }
                records.follow(from: previous, to: view, changed: changed)
                previous = view
            }
        }
    }

    /// A new view from the feed: the record table follows it.
    public nonisolated func update(view: [String: FeedObject], changed: Set<String>? = nil) {
        pending.put(view, changed: changed)
        views.yield()
    }

    /// Closes the listeners of tasks not in `ids` (before their namespace is deleted: an open
    /// socket would keep the namespace, and the veth in it, alive).
    public func keep(_ ids: Set<String>) async {
        for (id, listener) in listeners where !ids.contains(id) {
            listeners[id] = nil
            await listener.close()
        }
    }

    /// Serves exactly the tasks in `ids` (their namespaces exist); returns what could not open.
    public func serve(_ ids: Set<String>) async -> [String] {
        await keep(ids)
        var errors: [String] = []
        for id in ids.sorted() where listeners[id] == nil {
            do {
                listeners[id] = try await open(task: id)
            } catch {
                errors.append("dns for task \(id): \(error)")
            }
        }
        return errors
    }

    public var served: [String] { listeners.keys.sorted() }

    /// The admin API's `/v1/dns`: upstreams and the tasks served.
    public func statusJSON() -> [UInt8] {
        let status = ["upstreams": upstreams, "tasks": served]
        return (try? JSONEncoder().encode(status)).map(Array.init) ?? Array("{}".utf8)
    }

    public func close() async {
        await keep([])
        views.finish()
        rebuilder.cancel()
        try? await forwarder?.close()
    }

    private func open(task id: String) async throws -> DNSListener {
        let namespace = NetworkNamespace.path(files.path(KernelNames.taskNamespace(id)))
        let udp = try await namespace.makeSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        let tcp: Int32
        do {
            tcp = try await namespace.makeSocket(domain: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        } catch {
            Glibc.close(udp)
            throw error
        }
        try ListenerSockets.bind(udp: udp, tcp: tcp, address: Self.address, port: Self.port)
        return try await server.serve(udpSocket: udp, tcpSocket: tcp, scope: .task(id))
    }

    static func socketAddress(_ text: String) throws(DataPlaneError) -> SocketAddress {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let port = parts.count == 2 ? Int(parts[1]) : 53
        guard parts.count <= 2, let port, (1...65535).contains(port),
            let address = try? SocketAddress(ipAddress: String(parts[0]), port: port)
        else {
            throw DataPlaneError("dns upstream \(text)", errno: EINVAL, reason: "expected IPv4[:PORT]")
        }
        guard String(parts[0]) != TaskDNS.address else {
            throw DataPlaneError(
                "dns upstream \(text)", errno: EINVAL, reason: "127.0.0.11 is Shoal's own DNS")
        }
        return address
    }
}

/// The newest view not yet applied to the table, and the keys changed since the last one applied
/// (nil: unknown, compare whole views): views that arrive faster than the table follows are merged.
final class PendingView: Sendable {
    private let state = Mutex<(view: [String: FeedObject]?, changed: Set<String>?, known: Bool)>(
        (nil, [], true))

    func put(_ view: [String: FeedObject], changed: Set<String>?) {
        state.withLock { state in
            state.view = view
            if let changed, state.known {
                state.changed = (state.changed ?? []).union(changed)
            } else {
                state.changed = nil
                state.known = false
            }
        }
    }

    func take() -> ([String: FeedObject], Set<String>?)? {
        state.withLock { state in
            guard let view = state.view else { return nil }
            let taken = (view, state.known ? state.changed : nil)
            state = (nil, [], true)
            return taken
        }
    }
}
