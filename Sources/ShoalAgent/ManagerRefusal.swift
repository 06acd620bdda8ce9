import Foundation

/// The manager refusing this node's certificate (revoked by `shoalctl node rm`, or unknown to it):
/// an HTTP 401/403, or a TLS alert about the certificate. Retrying at the usual pace cannot help,
/// so every loop waits out one shared, doubling hold (capped) and the log says why.
public struct ManagerRefusal: Sendable {
    /// The first hold and the cap, in seconds.
    public static let firstHold: Double = 5
    public static let maxHold: Double = 300

    /// Refusals in a row (reset by any accepted request).
    public private(set) var consecutive = 0
    /// Until when the loops wait; nil while the manager accepts the node.
    public private(set) var holdUntil: Date?
    /// Why the last refusal happened (the manager's answer).
    public private(set) var lastReason: String?

    public init() {}

    /// The refusal an error is, or nil for an ordinary failure (manager away, timeout...).
    public static func reason(of error: any Error) -> String? {
        guard let error = error as? ClientError else { return nil }
        switch error {
        case .http(let status, _): return reason(status: status).map { _ in "\(error)" }
        case .tls(let text):
            let alerts = ["CERTIFICATE_REVOKED", "CERTIFICATE_UNKNOWN", "BAD_CERTIFICATE", "UNKNOWN_CA"]
            return alerts.contains { text.uppercased().contains($0) } ? "\(error)" : nil
        case .connect, .protocolError, .stale: return nil
        }
    }

    /// The refusal a status is (401/403), or nil.
    public static func reason(status: Int) -> String? {
        status == 401 || status == 403 ? "manager answered \(status)" : nil
    }

    /// Records a refusal at `now`; returns the new hold in seconds, or nil when one is already
    /// running (the loops that were waiting on it fail together and count once).
    public mutating func refused(_ reason: String, now: Date = Date()) -> Double? {
        if let holdUntil, now < holdUntil { return nil }
        let hold = min(Self.maxHold, Self.firstHold * pow(2, Double(min(consecutive, 16))))
        consecutive += 1
        holdUntil = now + hold
        lastReason = reason
        return hold
    }

    public mutating func accepted() {
        consecutive = 0
        holdUntil = nil
    }

    /// Seconds left to wait at `now` (0: go ahead).
    public func remaining(now: Date = Date()) -> Double {
        max(0, holdUntil.map { $0.timeIntervalSince(now) } ?? 0)
    }
}
