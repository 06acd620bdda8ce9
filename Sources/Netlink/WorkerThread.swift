import Dispatch
import Foundation
import Synchronization

/// A dedicated OS thread that runs jobs one at a time, in order.
///
/// Netlink calls block; running them here keeps them off Swift's cooperative pool, and gives
/// a socket a single owner. The thread ends when the owner is released. A job that leaves the
/// thread unusable (stuck in another namespace) marks it to retire: the queue then continues on
/// a fresh thread, and the old one ends.
final class WorkerThread: Sendable {
    /// Shared with the thread, which must not keep the WorkerThread itself alive.
    private final class Queue: Sendable {
        let name: String
        let jobs = Mutex<[@Sendable () -> Bool]>([])
        let signal = DispatchSemaphore(value: 0)
        /// Threads started for this queue: 1, plus one per retirement.
        let threadsStarted = Atomic<Int>(0)

        init(name: String) { self.name = name }
    }
    private let queue: Queue

    private static let retireKey = "shoal.retire"

    init(name: String) {
        queue = Queue(name: name)
        WorkerThread.start(queue)
    }

    private static func start(_ queue: Queue) {
        queue.threadsStarted.add(1, ordering: .relaxed)
        let thread = Thread {
            while true {
                queue.signal.wait()
                let job = queue.jobs.withLock { $0.removeFirst() }
                if !job() { return }
                if Thread.current.threadDictionary[retireKey] != nil {
                    WorkerThread.start(queue)
                    return
                }
            }
        }
        thread.name = queue.name
        thread.start()
    }

    /// Marks the calling thread to retire after its current job (a no-op on threads that are
    /// not WorkerThreads: their owner must see the error and stop using them).
    static func retireCurrentThread() {
        Thread.current.threadDictionary[retireKey] = true
    }

    /// How many threads this worker has used (for tests of retirement).
    var threadsStarted: Int { queue.threadsStarted.load(ordering: .relaxed) }

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

/// The few threads that do all of the module's blocking work, however many namespaces and
/// clients there are: a client is pinned to one of them (its calls stay in order), and entering
/// a namespace is only needed to make a socket, so no namespace needs a thread of its own.
final class WorkerPool: Sendable {
    static let shared = WorkerPool(size: 4)

    private let workers: [WorkerThread]
    private let counter = Atomic<Int>(0)

    init(size: Int) {
        workers = (0..<max(1, size)).map { WorkerThread(name: "shoal-netlink-\($0)") }
    }

    /// The next worker, round robin.
    func next() -> WorkerThread {
        workers[counter.add(1, ordering: .relaxed).newValue % workers.count]
    }
}
