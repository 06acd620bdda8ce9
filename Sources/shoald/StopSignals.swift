import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM (systemd's stop) and SIGINT end the manager promptly: `stop` cancels its work, and if
/// that has not finished after `drainSeconds` (a feed stream or a slow request holding on), the
/// process exits anyway. Every acknowledged write is already durable, so nothing is lost.
final class StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(drainSeconds: Double, logger: Logger, stop: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.info("signal \(number): stopping (at most \(drainSeconds) s for open requests)")
                stop()
                DispatchQueue.global().asyncAfter(deadline: .now() + drainSeconds) {
                    logger.warning("open requests did not finish within \(drainSeconds) s; exiting")
                    exit(0)
                }
            }
            source.resume()
            return source
        }
    }

    deinit { for source in sources { source.cancel() } }
}
