import Foundation
import ShoalModel

/// The mesh's half of the data plane: desired balancers from the view, the applied mirror beside
/// them, the kernel dumped at the first pass, after a failure and on resync. Between dumps the
/// applied mirror is the observed state, and a pass given the view keys that changed plans only
/// the services they touch (plus draining ones), so its cost follows the change, not the table.
/// A destination the view dropped drains: weight 0 at once, deleted when it has no ESTABLISHED
/// connection left or after the grace period.
public actor MeshReconciler {
    /// What the admin API serves at `/v1/mesh`.
    public struct Snapshot: Codable, Sendable {
        public var desired: DesiredMesh
        public var applied: ObservedMesh?
        public var draining: [String]
        public var lastOps: [String]
        public var counts: MeshCounts
    }

    let kernel: any MeshKernel
    let graceSeconds: Double
    let egressSubnet: CIDR
    private var tracker: MeshDesiredTracker
    private var desired: DesiredMesh { tracker.mesh }
    private var applied: ObservedMesh?
    private var needsDump = true
    /// When each lingering destination was first seen dropped (seconds since 1970).
    private var lingerSince: [MeshDestinationKey: Double] = [:]
    private var lastOps: [String] = []
    private var totals = MeshCounts()
    /// When each destination was first programmed with a weight above 0, i.e. takes traffic
    /// ("network/FWM mark/address" -> seconds since 1970): the convergence benchmark reads it.
    private var programmedAt: [String: Double] = [:]

    public init(
        kernel: any MeshKernel, graceSeconds: Double = 10,
        egressSubnet: CIDR = OverlayConfig.defaultEgressSubnet
    ) {
        self.kernel = kernel
        self.graceSeconds = graceSeconds
        self.egressSubnet = egressSubnet
        tracker = MeshDesiredTracker(egressSubnet: egressSubnet)
    }

    /// True while a destination drains: the data plane comes back soon to check on it.
    public var draining: Bool { !lingerSince.isEmpty }

    /// One pass over the networks whose namespace exists. `changed`: the view keys that differ
    /// from the last pass's view (nil: unknown, everything is planned). Returns the ops applied and
    /// the errors; after an error the next pass dumps the kernel.
    public func reconcile(
        view: [String: FeedObject], changed: Set<String>? = nil, networks: Set<String>,
        egress: [String: IPv4Address] = [:], resync: Bool, now: Double
    ) async -> (ops: [MeshOp], errors: [String]) {
        let dumping = resync || needsDump || applied == nil
        var scope: MeshScope?
        if let changed, !dumping,
            var touched = tracker.follow(view: view, changed: changed, networks: networks, egress: egress)
        {
            // Draining destinations are checked on every pass until they go.
            for key in lingerSince.keys { touched.services[key.network, default: []].insert(key.mark) }
            scope = touched
        } else {
            tracker.rebuild(view: view, networks: networks, egress: egress)
        }
        // A full dump reopens every socket: a namespace file re-bound to a new namespace must not
        // be read through a socket of the old one.
        await kernel.retain(networks: dumping ? [] : networks)
        if dumping {
            do {
                applied = try await kernel.dump(networks: desired.balancers.keys.sorted())
                needsDump = false
            } catch {
                needsDump = true
                return ([], ["mesh dump: \(error)"])
            }
        }
        guard var state = applied else { return ([], []) }
        applied = nil  // the pass mutates `state` in place, not a copy of the whole table
        for network in state.balancers.keys where desired.balancers[network] == nil {
            state.balancers[network] = nil
        }
        let released = await releasable(
            MeshPlanner.lingering(desired: desired, observed: state, scope: scope), now: now)
        let ops = MeshPlanner.plan(desired: desired, observed: state, released: released, scope: scope)
        var errors: [String] = []
        if !ops.isEmpty {
            let results = await kernel.apply(batch: ops)
            let appliedAt = Date().timeIntervalSince1970
            for (op, error) in zip(ops, results) {
                if let error {
                    errors.append("\(error)")
                    continue
                }
                state.record(op)
                switch op {
                case .addDestination(let key, let weight), .updateDestination(let key, let weight):
                    if weight > 0 && programmedAt[key.description] == nil {
                        programmedAt[key.description] = appliedAt
                    }
                default: break
                }
            }
            lastOps = ops.map(\.description)
        }
        applied = state
        let left = MeshPlanner.lingering(desired: desired, observed: state, scope: scope)
        lingerSince = lingerSince.filter { left.contains($0.key) }
        let counts = await kernel.takeCounts()
        totals.netlinkRequests += counts.netlinkRequests
        totals.nftTransactions += counts.nftTransactions
        if !errors.isEmpty { needsDump = true }
        return (ops, errors)
    }

    /// Lingering destinations that may go now: no ESTABLISHED connection, or past the grace period.
    func releasable(_ lingering: Set<MeshDestinationKey>, now: Double) async -> Set<MeshDestinationKey> {
        var released = Set<MeshDestinationKey>()
        for key in lingering.sorted() {
            let since = lingerSince[key] ?? now
            lingerSince[key] = since
            if now - since >= graceSeconds {
                released.insert(key)
                continue
            }
            do {
                // Gone from the kernel, or no ESTABLISHED connection left.
                if (try await kernel.activeConnections(key) ?? 0) == 0 { released.insert(key) }
            } catch {
                continue  // could not read: keep draining, the grace period bounds it
            }
        }
        return released
    }

    public var snapshot: Snapshot {
        Snapshot(
            desired: desired, applied: applied, draining: lingerSince.keys.sorted().map(\.description),
            lastOps: lastOps, counts: totals)
    }

    public func snapshotJSON() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(snapshot)).map(Array.init) ?? Array("{}".utf8)
    }

    public func programmedJSON() -> [UInt8] {
        (try? JSONEncoder().encode(programmedAt)).map(Array.init) ?? Array("{}".utf8)
    }
}
