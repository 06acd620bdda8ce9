/// The async face of an IPVSSocket: one socket in one namespace, used from one pool thread.
public final class IPVSClient: Sendable {
    private let owner: SocketOwner<IPVSSocket>
    public let namespace: NetworkNamespace

    private init(owner: SocketOwner<IPVSSocket>, namespace: NetworkNamespace) {
        self.owner = owner
        self.namespace = namespace
    }

    /// Opens a generic netlink socket in `namespace` and resolves IPVS (isNotFound without ip_vs).
    public static func open(_ namespace: NetworkNamespace = .current) async throws(NetlinkError) -> IPVSClient
    {
        let owner = try await SocketOwner.open { () throws(NetlinkError) in
            try IPVSSocket(namespace: namespace)
        }
        return IPVSClient(owner: owner, namespace: namespace)
    }

    public func withSocket<T: Sendable>(
        _ body: @escaping @Sendable (IPVSSocket) throws(NetlinkError) -> T
    ) async throws(NetlinkError) -> T {
        try await owner.run(body)
    }

    public func apply(_ request: IPVSRequest) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.apply(request) }
    }
    /// One result per request (nil = applied); throws only when the batch could not be run.
    public func apply(batch requests: [IPVSRequest]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in s.apply(batch: requests) }
    }
    public func services() async throws(NetlinkError) -> [VirtualService] {
        try await withSocket { s throws(NetlinkError) in try s.services() }
    }
    public func service(_ key: ServiceKey) async throws(NetlinkError) -> VirtualService? {
        try await withSocket { s throws(NetlinkError) in try s.service(key) }
    }
    public func destinations(of key: ServiceKey) async throws(NetlinkError) -> [Destination] {
        try await withSocket { s throws(NetlinkError) in try s.destinations(of: key) }
    }
    public func state() async throws(NetlinkError) -> [IPVSServiceState] {
        try await withSocket { s throws(NetlinkError) in
            try s.state().map { IPVSServiceState(service: $0.service, destinations: $0.destinations) }
        }
    }
    public func info() async throws(NetlinkError) -> IPVSInfo {
        try await withSocket { s throws(NetlinkError) in try s.info() }
    }
    public func timeouts() async throws(NetlinkError) -> IPVSTimeouts {
        try await withSocket { s throws(NetlinkError) in try s.timeouts() }
    }
    public func setTimeouts(_ timeouts: IPVSTimeouts) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.setTimeouts(timeouts) }
    }
}

/// A service with its destinations, as read back.
public struct IPVSServiceState: Sendable, Hashable {
    public var service: VirtualService
    public var destinations: [Destination]
}
