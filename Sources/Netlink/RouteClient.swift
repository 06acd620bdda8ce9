/// The async face of a RouteSocket: one socket in one namespace, used from one pool thread.
///
/// Every call runs on the client's thread (one of WorkerPool's few, shared by all clients), so
/// blocking netlink I/O never occupies Swift's cooperative pool, and the socket has one user.
public final class RouteClient: Sendable {
    private let owner: SocketOwner<RouteSocket>
    public let namespace: NetworkNamespace

    private init(owner: SocketOwner<RouteSocket>, namespace: NetworkNamespace) {
        self.owner = owner
        self.namespace = namespace
    }

    /// Opens an rtnetlink socket inside `namespace` (entered on the client's thread, then left).
    public static func open(_ namespace: NetworkNamespace = .current) async throws(NetlinkError)
        -> RouteClient
    {
        let owner = try await SocketOwner.open { () throws(NetlinkError) in
            try RouteSocket(namespace: namespace)
        }
        return RouteClient(owner: owner, namespace: namespace)
    }

    /// Runs `body` with the socket on the client's thread.
    public func withSocket<T: Sendable>(
        _ body: @escaping @Sendable (RouteSocket) throws(NetlinkError) -> T
    ) async throws(NetlinkError) -> T {
        try await owner.run(body)
    }

    public func links() async throws(NetlinkError) -> [Link] {
        try await withSocket { s throws(NetlinkError) in try s.links() }
    }
    public func link(named name: String) async throws(NetlinkError) -> Link? {
        try await withSocket { s throws(NetlinkError) in try s.link(named: name) }
    }
    public func link(index: Int32) async throws(NetlinkError) -> Link? {
        try await withSocket { s throws(NetlinkError) in try s.link(index: index) }
    }
    public func createLink(_ spec: LinkSpec) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.createLink(spec) }
    }
    public func changeLink(_ name: String, _ change: LinkChange) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.changeLink(name, change) }
    }
    public func changeLink(index: Int32, _ change: LinkChange) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.changeLink(index: index, change) }
    }
    public func deleteLink(_ name: String) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteLink(name) }
    }
    public func deleteLink(index: Int32) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteLink(index: index) }
    }
    public func addAddress(_ address: Address) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.addAddress(address) }
    }
    /// One result per address (nil = added), pipelined.
    public func addAddresses(_ addresses: [Address]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.addAddresses(addresses) }
    }
    public func deleteAddress(_ address: Address) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteAddress(address) }
    }
    public func addresses(device: String? = nil) async throws(NetlinkError) -> [Address] {
        try await withSocket { s throws(NetlinkError) in try s.addresses(device: device) }
    }
    public func replaceRoute(_ route: Route) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.replaceRoute(route) }
    }
    public func deleteRoute(_ route: Route) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteRoute(route) }
    }
    public func routes(table: UInt32 = Route.mainTable, protocol: RouteProtocol? = nil)
        async throws(NetlinkError)
        -> [Route]
    {
        try await withSocket { s throws(NetlinkError) in try s.routes(table: table, protocol: `protocol`) }
    }
    public func replaceNeighbour(_ neighbour: Neighbour) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.replaceNeighbour(neighbour) }
    }
    public func deleteNeighbour(_ neighbour: Neighbour) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteNeighbour(neighbour) }
    }
    public func neighbours(device: String? = nil) async throws(NetlinkError) -> [Neighbour] {
        try await withSocket { s throws(NetlinkError) in try s.neighbours(device: device) }
    }
    public func replaceFDBEntry(_ entry: FDBEntry) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.replaceFDBEntry(entry) }
    }
    public func appendFDBEntry(_ entry: FDBEntry) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.appendFDBEntry(entry) }
    }
    public func deleteFDBEntry(_ entry: FDBEntry) async throws(NetlinkError) {
        try await withSocket { s throws(NetlinkError) in try s.deleteFDBEntry(entry) }
    }
    public func fdbEntries(device: String? = nil) async throws(NetlinkError) -> [FDBEntry] {
        try await withSocket { s throws(NetlinkError) in try s.fdbEntries(device: device) }
    }
    public func replaceNeighbours(_ entries: [Neighbour]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.replaceNeighbours(entries) }
    }
    public func deleteNeighbours(_ entries: [Neighbour]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.deleteNeighbours(entries) }
    }
    public func replaceFDBEntries(_ entries: [FDBEntry]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.replaceFDBEntries(entries) }
    }
    public func appendFDBEntries(_ entries: [FDBEntry]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.appendFDBEntries(entries) }
    }
    public func deleteFDBEntries(_ entries: [FDBEntry]) async throws(NetlinkError) -> [NetlinkError?] {
        try await withSocket { s throws(NetlinkError) in try s.deleteFDBEntries(entries) }
    }
}
