import Foundation
import ShoalModel

/// The agent's reading of its feed: the view, and when to drop the connection and resume with
/// `since`. A gap, a line that does not decode, or a silent stream all mean the chain can no
/// longer be trusted; a COMPLETE resets it.
public struct FeedFollower: Sendable {
    public enum Action: Equatable, Sendable {
        /// The view changed (a COMPLETE when `complete`): reconcile.
        case changed(complete: Bool)
        /// A keep-alive: the stream is alive, nothing changed.
        case alive
        /// Close the stream and reconnect with `since: revision`.
        case reconnect(String)
    }

    public private(set) var view = FeedView()
    /// The keys the last INCREMENTAL changed (nil after a COMPLETE): lets the DNS table follow
    /// the change without comparing whole views.
    public private(set) var changedKeys: Set<String>?

    public init() {}

    /// Where to resume: the last revision the view reached.
    public var since: UInt64? { view.revision }

    public mutating func handle(line: String) -> Action {
        if line.isEmpty { return .alive }
        let message: FeedMessage
        do {
            message = try JSONDecoder().decode(FeedMessage.self, from: Data(line.utf8))
        } catch {
            return .reconnect("undecodable feed line (\(line.prefix(80))): \(error)")
        }
        switch view.apply(message) {
        case .applied:
            changedKeys = message.type == .incremental ? Set((message.changes ?? []).map(\.key)) : nil
            return .changed(complete: message.type == .complete)
        case .keepalive: return .alive
        case .gap(let expected, let got):
            return .reconnect("feed gap: the view is at revision \(expected), the change starts at \(got)")
        }
    }

    /// The delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s, capped at
    /// `cap`, with full jitter so a fleet of agents does not reconnect in step.
    public static func backoff(attempt: Int, cap: Double = 15) -> Double {
        let ceiling = min(cap, 0.5 * pow(2, Double(min(attempt, 16))))
        return Double.random(in: ceiling / 2...ceiling)
    }
}
