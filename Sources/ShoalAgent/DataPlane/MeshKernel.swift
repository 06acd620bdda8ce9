import ShoalModel

/// The kernel as the mesh reconciler sees it: a dump of the balancers in the network namespaces
/// it names, ops applied in order, and the live connection count of a draining destination.
public protocol MeshKernel: Sendable {
    func dump(networks: [String]) async throws(DataPlaneError) -> ObservedMesh
    /// One result per op (nil: done).
    func apply(batch ops: [MeshOp]) async -> [DataPlaneError?]
    /// ESTABLISHED TCP connections of a destination now; nil when it is gone.
    func activeConnections(_ key: MeshDestinationKey) async throws(DataPlaneError) -> UInt32?
    /// Drops what is cached for networks not in `networks`: a cached socket would keep a deleted
    /// namespace (and its vxlan device, whose VNI and port then stay taken) alive.
    func retain(networks: Set<String>) async
    /// Counts of what was sent since the last call: netlink requests and nft transactions.
    func takeCounts() async -> MeshCounts
}

public struct MeshCounts: Equatable, Codable, Sendable {
    public var netlinkRequests = 0
    public var nftTransactions = 0

    public init() {}
}

/// An in-memory kernel for planner and reconciler tests.
public actor FakeMeshKernel: MeshKernel {
    public private(set) var state = ObservedMesh()
    public private(set) var applied: [MeshOp] = []
    /// Active connections the fake reports per destination.
    private var connections: [MeshDestinationKey: UInt32] = [:]

    public init() {}

    public func dump(networks: [String]) -> ObservedMesh {
        var mesh = ObservedMesh()
        for network in networks { mesh.balancers[network] = state.balancers[network] }
        return mesh
    }

    /// Ops that fail (once each) with this errno instead of being applied.
    private var failing: [(op: MeshOp, errno: Int32)] = []

    public func apply(batch ops: [MeshOp]) -> [DataPlaneError?] {
        ops.map { op in
            if let index = failing.firstIndex(where: { $0.op == op }) {
                return DataPlaneError(
                    op.description, errno: failing.remove(at: index).errno, reason: "injected")
            }
            applied.append(op)
            state.record(op)
            return nil
        }
    }

    public func fail(_ op: MeshOp, errno: Int32) { failing.append((op, errno)) }

    public func activeConnections(_ key: MeshDestinationKey) -> UInt32? {
        guard state.balancers[key.network]?.services[key.mark]?.destinations[key.address] != nil else {
            return nil
        }
        return connections[key] ?? 0
    }

    public func retain(networks: Set<String>) {}

    public func takeCounts() -> MeshCounts { MeshCounts() }

    public func setConnections(_ key: MeshDestinationKey, _ count: UInt32) { connections[key] = count }

    public func clearLog() { applied = [] }

    public func mutate(_ body: @Sendable (inout ObservedMesh) -> Void) { body(&state) }
}
