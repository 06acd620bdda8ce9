/// One socket and the worker thread that alone touches it: the ownership behind RouteClient and
/// IPVSClient. Blocking netlink I/O runs on that thread, never on Swift's cooperative pool; the
/// thread is one of WorkerPool's few, shared with other clients.
final class SocketOwner<Socket>: @unchecked Sendable {
    // @unchecked: `socket` is only touched from `worker`'s thread.
    private let worker: WorkerThread
    private let socket: Socket

    private init(worker: WorkerThread, socket: Socket) {
        self.worker = worker
        self.socket = socket
    }

    /// Makes the socket on a pool thread (namespaces are entered there, then left).
    static func open(_ make: @escaping @Sendable () throws(NetlinkError) -> Socket) async throws(NetlinkError)
        -> SocketOwner
    {
        let worker = WorkerPool.shared.next()
        let socket = try await worker.run { () throws(NetlinkError) in UncheckedBox(try make()) }
        return SocketOwner(worker: worker, socket: socket.value)
    }

    /// Runs `body` with the socket on its thread.
    func run<T: Sendable>(
        _ body: @escaping @Sendable (Socket) throws(NetlinkError) -> T
    ) async throws(NetlinkError) -> T {
        let socket = UncheckedBox(socket)
        return try await worker.run { () throws(NetlinkError) in try body(socket.value) }
    }

    deinit {
        // The socket must be released on its own thread too.
        let socket = UncheckedBox(socket)
        worker.submit { _ = socket }
    }
}

/// Carries a value that is confined to one thread across the hop to that thread.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
