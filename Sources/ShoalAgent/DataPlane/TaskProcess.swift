import Foundation
import Glibc

/// A workload process: its pid and the kernel's start time for it (field 22 of /proc/PID/stat),
/// which together name the process for good: a recycled pid has another start time.
public struct ProcessRecord: Codable, Equatable, Sendable {
    public var pid: Int32
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The start time of `pid` now, nil when no such process exists.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Still the same process (alive or a zombie not yet reaped).
    public var isAlive: Bool { Self.startTime(of: pid) == startTime }

    /// Signals the workload's process group, only when the pid still names this process.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        guard isAlive else { return false }
        return kill(-pid, signal) == 0 || kill(pid, signal) == 0
    }
}

/// How a child ended, from waitpid's status word.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)
    /// Adopted from an earlier agent: not our child, so its status cannot be read.
    case unknown

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .unknown: "exited while not a child of this agent (exit code unknown)"
        }
    }
}

/// Starts a workload: its own session (so it outlives the agent and can be signalled as a group),
/// output appended to its log file, inside the task's network namespace and a mount namespace of
/// its own where /etc/resolv.conf and /etc/hosts are the task's files (as `ip netns exec` does).
enum TaskLauncher {
    static func spawn(
        command: [String], environment: [String], networkNamespace: String, resolvConf: String, hosts: String,
        logFile: String
    ) throws(DataPlaneError) -> ProcessRecord {
        guard !command.isEmpty else { throw DataPlaneError("start task", reason: "the task has no command") }
        let script =
            "mount --bind \(quote(resolvConf)) /etc/resolv.conf && mount --bind \(quote(hosts)) /etc/hosts && exec \"$@\""
        let argv =
            [
                "/usr/bin/nsenter", "--net=" + networkNamespace, "unshare", "--mount", "--propagation",
                "slave", "sh", "-c",
                script, "shoal-task",
            ] + command
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID (glibc's values; the
        // GNU-only SETSID is not imported): a session of its own and default signal handling.
        posix_spawnattr_setflags(&attributes, 0x04 | 0x08 | 0x80)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var pid: pid_t = 0
        let result = withCStrings(argv) { cArgv in
            withCStrings(environment) { cEnv in
                posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
            }
        }
        guard result == 0 else {
            throw DataPlaneError(
                "start \(command[0])", errno: result, reason: String(cString: strerror(result)))
        }
        // The start time exists as soon as posix_spawn returned; the child is ours until reaped.
        return ProcessRecord(pid: pid, startTime: ProcessRecord.startTime(of: pid) ?? 0)
    }

    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }

    /// Reaps our child if it ended.
    static func reap(_ pid: Int32) -> ExitStatus? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return ExitStatus(waitStatus: status) }
        // ECHILD: not our child (adopted); the caller checks /proc instead.
        return nil
    }
}
