import Dispatch
import Foundation
import Synchronization

/// A dedicated OS thread that runs jobs one at a time, in order.
///
/// Netlink calls block; running them here keeps them off Swift's cooperative pool, and gives
/// a socket a single owner. The thread ends when the owner is released.
final class WorkerThread: Sendable {
    /// Shared with the thread, which must not keep the WorkerThread itself alive.
    private final class Queue: Sendable {
        let jobs = Mutex<[@Sendable () -> Bool]>([])
        let signal = DispatchSemaphore(value: 0)
    }
    private let queue = Queue()

    init(name: String) {
        let thread = Thread { [queue] in
            while true {
                queue.signal.wait()
                let job = queue.jobs.withLock { $0.removeFirst() }
                if !job() { return }
            }
        }
        thread.name = name
        thread.start()
    }

    deinit {
        // A final job that tells the loop to return.
        queue.jobs.withLock { $0.append { false } }
        queue.signal.signal()
    }

    /// Runs `body` on the thread without waiting for it.
    func submit(_ body: @escaping @Sendable () -> Void) {
        queue.jobs.withLock {
            $0.append {
                body()
                return true
            }
        }
        queue.signal.signal()
    }

    /// Runs `body` on the thread and suspends the caller (not blocking a pool thread) until it is done.
    func run<T: Sendable>(
        _ body: @escaping @Sendable () throws(NetlinkError) -> T
    ) async throws(NetlinkError) -> T {
        let result: Result<T, NetlinkError> = await withCheckedContinuation { continuation in
            submit {
                do throws(NetlinkError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
