import Logging
import ServiceLifecycle

/// Runs HTTP servers until the calling task is cancelled, then stops them gracefully: each closes
/// its listener and serves the connections it had already accepted before anything is cancelled.
///
/// Cancelling a Hummingbird server outright drops connections the kernel had accepted but the
/// server had not yet taken, and NIO traps on those ("Deinited NIOAsyncWriter without calling
/// finish()", swift-nio #2637 and #3481): a manager stopped while agents connect would crash on
/// its way out. So each server runs in a task of its own that cancellation does not reach, and
/// cancellation asks for a graceful shutdown instead, of all servers at once (a service group
/// would stop them one after the other); connections still open after `grace` (feeds stream for
/// ever) are then cancelled, with the listeners already closed.
public enum GracefulServers {
    public static func run(_ services: [any Service], grace: Duration = .seconds(1), logger: Logger)
        async throws
    {
        let groups = services.map { service in
            var configuration = ServiceGroupConfiguration(services: [service], logger: logger)
            configuration.maximumGracefulShutdownDuration = grace
            return ServiceGroup(configuration: configuration)
        }
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for group in groups { tasks.addTask { try await group.run() } }
                // One server ending (an error) stops the others, as before.
                _ = try await tasks.next()
                for group in groups { await group.triggerGracefulShutdown() }
                try await tasks.waitForAll()
            }
        }
        try await withTaskCancellationHandler {
            try await running.value
        } onCancel: {
            Task { for group in groups { await group.triggerGracefulShutdown() } }
        }
    }
}
