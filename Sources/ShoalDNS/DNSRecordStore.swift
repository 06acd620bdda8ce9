import NIOConcurrencyHelpers
import ShoalModel

/// The current record table, shared by every listener; the agent replaces it when its view changes.
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

    public var current: DNSRecordTable { table.withLockedValue { $0 } }
}
