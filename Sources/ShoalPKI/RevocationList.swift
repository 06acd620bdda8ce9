import Synchronization

/// Revoked node ids and certificate serials. Shared between the manager's API (which adds to it when a
/// node is removed) and every TLS handshake (which reads it). The manager persists `snapshot`.
public final class RevocationList: Sendable {
    public struct Snapshot: Sendable, Hashable, Codable {
        public var nodeIDs: Set<String>
        /// Lowercase hex serial numbers.
        public var serials: Set<String>

        public init(nodeIDs: Set<String> = [], serials: Set<String> = []) {
            self.nodeIDs = nodeIDs
            self.serials = serials
        }
    }

    private let state: Mutex<Snapshot>

    public init(_ snapshot: Snapshot = Snapshot()) {
        state = Mutex(snapshot)
    }

    /// Refuses every certificate of this node from now on (node ids are never reused).
    public func revoke(nodeID: String) {
        state.withLock { _ = $0.nodeIDs.insert(nodeID) }
    }

    /// Refuses one certificate (e.g. a leaked one) while the node keeps others.
    public func revoke(serial: String) {
        state.withLock { _ = $0.serials.insert(serial.lowercased()) }
    }

    public func isRevoked(nodeID: String, serial: String) -> Bool {
        state.withLock { $0.nodeIDs.contains(nodeID) || $0.serials.contains(serial.lowercased()) }
    }

    public var snapshot: Snapshot {
        state.withLock { $0 }
    }
}
