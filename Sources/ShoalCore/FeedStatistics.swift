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

    public var description: String {
        "feeds: revision \(revision), \(subscribers) subscribers (oldest sent \(oldestSent)), \(tables) tables,"
            + " \(objects) objects of \(objectBytes / 1024) KiB, \(logEntries) log entries"
            + " (keys \(logKeyBytes / 1024) KiB)"
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
