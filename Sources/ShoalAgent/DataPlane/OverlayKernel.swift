import ShoalModel

/// A data-plane failure: what was being done, and the errno when the system gave one.
public struct DataPlaneError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32?
    public var reason: String

    public init(_ operation: String, errno: Int32? = nil, reason: String) {
        self.operation = operation
        self.errno = errno
        self.reason = reason
    }

    public var description: String {
        "\(operation): \(reason)" + (errno.map { " (errno \($0))" } ?? "")
    }
}

/// A change to Shoal's objects the kernel announced; the data plane decides whether it is drift
/// (an object it still wants went away) or the echo of its own delete.
public enum DriftEvent: Equatable, Sendable {
    case fdbRemoved(network: String, mac: String)
    case neighbourRemoved(network: String, address: String)
    case linkRemoved(network: String, name: String)
    /// Events were lost: only a dump can tell.
    case overflow
}

/// The kernel as the overlay reconciler sees it: a dump of what Shoal owns, and one op at a time.
public protocol OverlayKernel: Sendable {
    func dump() async throws(DataPlaneError) -> ObservedNode
    func apply(_ op: OverlayOp) async throws(DataPlaneError)
    /// Reports removals in the network namespaces from now on.
    func watch(_ handler: @escaping @Sendable (DriftEvent) async -> Void) async
    /// Applies ops in order and returns one result per op (nil: done). A kernel may pipeline runs
    /// of peer entries; the default applies them one at a time.
    func apply(batch ops: [OverlayOp]) async -> [DataPlaneError?]
}

extension OverlayKernel {
    public func watch(_ handler: @escaping @Sendable (DriftEvent) async -> Void) async {}

    public func apply(batch ops: [OverlayOp]) async -> [DataPlaneError?] {
        var results: [DataPlaneError?] = []
        for op in ops {
            do {
                try await apply(op)
                results.append(nil)
            } catch {
                results.append(error)
            }
        }
        return results
    }
}

/// An in-memory kernel for planner and reconciler tests: it holds what ops made and can fail on cue.
public actor FakeOverlayKernel: OverlayKernel {
    public private(set) var state = ObservedNode()
    public private(set) var applied: [OverlayOp] = []
    private var nextIndex: Int32 = 100
    private let config: OverlayConfig
    /// Ops matching this fail (once each) with EBUSY.
    private var failing: (@Sendable (OverlayOp) -> Bool)?

    public init(config: OverlayConfig) { self.config = config }

    public func dump() -> ObservedNode { state }

    public func apply(_ op: OverlayOp) throws(DataPlaneError) {
        if let failing, failing(op) {
            self.failing = nil
            throw DataPlaneError(op.description, errno: 16, reason: "injected failure")
        }
        applied.append(op)
        state.record(op, config: config, nextIndex: &nextIndex)
    }

    public func failNext(where predicate: @escaping @Sendable (OverlayOp) -> Bool) { failing = predicate }

    /// Drift made by hand, as `bridge fdb del` would.
    public func mutate(_ body: @Sendable (inout ObservedNode) -> Void) { body(&state) }

    public func clearLog() { applied = [] }
}
