import Foundation
import Synchronization

/// Seconds on a monotonic clock.
func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// CPU seconds (user + system) this process used so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}

/// Resident memory now in MiB (VmRSS).
func residentMiB() -> Double { statusMiB("VmRSS:") }

/// Peak resident memory in MiB (VmHWM), read from /proc.
func peakResidentMiB() -> Double { statusMiB("VmHWM:") }

func statusMiB(_ field: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
        let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    else { return 0 }
    return kib / 1024
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
    return sorted[index]
}

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count,
        let value = Int(arguments[at + 1])
    else { return fallback }
    return value
}

func format(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

/// Heartbeats sent and how long each took to answer.
final class HeartbeatCounter: Sendable {
    private let state = Mutex<[Double]>([])

    func add(_ seconds: Double) { state.withLock { $0.append(seconds) } }
    var count: Int { state.withLock { $0.count } }
    var p99: Double { percentile(state.withLock { $0 }, 0.99) }
}

/// glibc's malloc_stats (per-arena system and in-use bytes, on stderr) and malloc_trim, found at run
/// time: they tell memory the program still holds from memory malloc keeps after it was freed.
enum GlibcMalloc {
    static func printStats() {
        guard let symbol = dlsym(nil, "malloc_stats") else { return }
        unsafeBitCast(symbol, to: (@convention(c) () -> Void).self)()
    }

    /// Gives freed heap memory back to the system.
    static func trim() {
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
    }
}
