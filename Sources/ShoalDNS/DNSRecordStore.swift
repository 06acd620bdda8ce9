import NIOConcurrencyHelpers
import ShoalModel

/// The current record table, shared by every listener. Queries read it under the lock (no copy
/// escapes, so a change applied in place never copies the table); the agent applies small feed
/// changes in place and swaps in a table built aside for large ones.
public final class DNSRecordStore: Sendable {
    private let table: NIOLockedValueBox<DNSRecordTable>

    public init(_ table: DNSRecordTable = DNSRecordTable()) {
        self.table = NIOLockedValueBox(table)
    }

    public func replace(view: [FeedObject]) {
        replace(DNSRecordTable(view: view))
    }

    public func replace(_ newTable: DNSRecordTable) {
        table.withLockedValue { $0 = newTable }
    }

    /// Applies changed feed objects in place (see `DNSRecordTable.apply`).
    public func apply(_ changes: [(old: FeedObject?, new: FeedObject?)]) {
        table.withLockedValue { $0.apply(changes) }
    }

    /// Above this many changed objects a fresh table is built aside and swapped in (the lock is
    /// then held no longer than the swap).
    public static let inPlaceLimit = 256

    /// Moves the table from one view to the next: the objects that differ are applied in place, or
    /// for a first or a large change a table is built aside. `changed` names the keys that may
    /// differ (the feed's INCREMENTALs say); nil compares the whole views. Returns how many
    /// objects changed.
    @discardableResult
    public func follow(
        from previous: [String: FeedObject], to view: [String: FeedObject], changed: Set<String>? = nil
    ) -> Int {
        var changes: [(old: FeedObject?, new: FeedObject?)] = []
        if let changed, !previous.isEmpty {
            for key in changed where previous[key] != view[key] { changes.append((previous[key], view[key])) }
        } else {
            for (key, object) in view where previous[key] != object {
                changes.append((previous[key], object))
            }
            for (key, object) in previous where view[key] == nil { changes.append((object, nil)) }
        }
        if changes.isEmpty { return 0 }
        if previous.isEmpty || changes.count > Self.inPlaceLimit {
            replace(view: Array(view.values))
        } else {
            apply(changes)
        }
        return changes.count
    }

    func read<T>(_ body: (DNSRecordTable) -> T) -> T {
        table.withLockedValue { body($0) }
    }

    public var current: DNSRecordTable { table.withLockedValue { $0 } }
}
