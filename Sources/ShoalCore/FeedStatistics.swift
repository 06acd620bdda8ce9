/// What the feeds hold in memory, for the scale benchmark (issue 12): where the bytes are.
public struct FeedStatistics: Sendable, CustomStringConvertible {
    public var revision: UInt64 = 0
    public var subscribers = 0
    /// The oldest revision an open feed has sent: logs are trimmed only up to it.
    public var oldestSent: UInt64 = 0
    public var tables = 0
    public var objects = 0
    public var objectBytes = 0
    public var logEntries = 0
    public var logKeyBytes = 0
    /// COMPLETEs being handed out in parts, and the bytes of lines or parts handed to connections
    /// and not yet written (each feed holds at most one).
    public var completesInFlight = 0
    public var handedOutBytes = 0

    public var description: String {
        "feeds: revision \(revision), \(subscribers) subscribers (oldest sent \(oldestSent)), \(tables) tables,"
            + " \(objects) objects of \(objectBytes / 1024) KiB, \(logEntries) log entries"
            + " (keys \(logKeyBytes / 1024) KiB), \(completesInFlight) COMPLETEs in flight,"
            + " \(handedOutBytes / 1024) KiB handed out"
    }
}

extension Manager {
    nonisolated public var feedStatistics: FeedStatistics { feeds.statistics }
}

extension FeedHub {
    var statistics: FeedStatistics {
        withHub { hub in
            var statistics = hub.tables.statistics
            statistics.subscribers = hub.subscribers.count
            statistics.oldestSent = hub.subscribers.values.map(\.sent).min() ?? hub.tables.revision
            for subscriber in hub.subscribers.values {
                if subscriber.complete != nil { statistics.completesInFlight += 1 }
                statistics.handedOutBytes += subscriber.handedOut
            }
            return statistics
        }
    }
}

extension FeedTables {
    var statistics: FeedStatistics {
        var statistics = FeedStatistics()
        statistics.revision = revision
        statistics.tables = tables.count
        for table in tables.values {
            statistics.objects += table.count
            statistics.objectBytes += table.values.reduce(0) { $0 + $1.count }
        }
        for log in logs.values {
            statistics.logEntries += log.count
            statistics.logKeyBytes += log.keyBytes
        }
        return statistics
    }
}
