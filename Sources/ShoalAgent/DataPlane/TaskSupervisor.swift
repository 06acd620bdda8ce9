import Foundation
import Glibc
import ShoalModel

/// Runs the node's tasks (raw exec): starts the ones whose network is ready, stops the ones the
/// manager no longer wants (SIGTERM, then SIGKILL after the grace period), notices exits, and
/// re-attaches to workloads left running by an earlier agent (pid plus start time, so a recycled
/// pid is never signalled). A task that ends is reported and not started again: the manager
/// replaces it, and the replacement in the same slot starts after the restart delay.
public actor TaskSupervisor {
    public struct Settings: Sendable {
        public var stopGrace: Double = 10
        public var restartDelay: Double = 2
        public init() {}
    }

    public typealias Reporter =
        @Sendable (_ taskID: String, _ state: TaskState, _ message: String?) async -> Void

    struct Workload {
        var record: ProcessRecord
        var child: Bool
        var stopDeadline: Double?
        var slotKey: String
    }

    /// A task's state as the admin API shows it.
    public struct TaskStatus: Codable, Equatable, Sendable {
        public var pid: Int32?
        public var state: String
        public var detail: String?
    }

    let directory: String
    let namespaces: NamespaceFiles
    let settings: Settings
    let report: Reporter
    private var workloads: [String: Workload] = [:]
    private var ended: [String: String] = [:]
    private var lastExit: [String: Double] = [:]
    public private(set) var adopted: [String] = []

    public init(dataDir: String, namespaces: NamespaceFiles, settings: Settings, report: @escaping Reporter) {
        directory = dataDir + "/tasks"
        self.namespaces = namespaces
        self.settings = settings
        self.report = report
    }

    func taskDirectory(_ id: String) -> String { directory + "/" + id }
    func recordFile(_ id: String) -> String { taskDirectory(id) + "/process.json" }
    public func logFile(_ id: String) -> String { taskDirectory(id) + "/output.log" }

    /// Re-attaches to workloads an earlier agent started and that still run.
    public func adopt() {
        for id in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let data = FileManager.default.contents(atPath: recordFile(id)),
                let record = try? JSONDecoder().decode(ProcessRecord.self, from: data)
            else { continue }
            if record.isAlive {
                workloads[id] = Workload(record: record, child: false, stopDeadline: nil, slotKey: "")
                adopted.append(id)
            } else {
                try? FileManager.default.removeItem(atPath: recordFile(id))
            }
        }
    }

    /// Ids of tasks with a live process: their network must stay until they are gone.
    public var live: Set<String> { Set(workloads.keys) }

    public var statuses: [String: TaskStatus] {
        var result: [String: TaskStatus] = [:]
        for (id, detail) in ended { result[id] = TaskStatus(pid: nil, state: "ended", detail: detail) }
        for (id, workload) in workloads {
            result[id] = TaskStatus(
                pid: workload.record.pid, state: workload.stopDeadline == nil ? "running" : "stopping",
                detail: workload.child ? nil : "adopted")
        }
        return result
    }

    /// Starts what should run and is `ready` (its network is programmed); stops what should not.
    /// Returns the errors of tasks that could not start.
    public func sync(
        _ tasks: [String: DesiredTask], ready: Set<String>, now: Double = Date().timeIntervalSince1970
    )
        async -> [String]
    {
        var errors: [String] = []
        for (id, workload) in workloads where workload.stopDeadline == nil && tasks[id]?.run != true {
            workload.record.signal(SIGTERM)
            workloads[id]?.stopDeadline = now + settings.stopGrace
        }
        for id in ended.keys where tasks[id] == nil { ended[id] = nil }
        for task in tasks.values.sorted(by: { $0.id < $1.id }) where task.run && ready.contains(task.id) {
            guard workloads[task.id] == nil, ended[task.id] == nil else { continue }
            let key = Self.slotKey(task)
            if let last = lastExit[key], now - last < settings.restartDelay { continue }
            do {
                try start(task)
                await report(task.id, .running, nil)
            } catch {
                errors.append("task \(task.name): \(error)")
                ended[task.id] = "\(error)"
                await report(task.id, .rejected, "\(error)")
            }
        }
        return errors
    }

    static func slotKey(_ task: DesiredTask) -> String { "\(task.serviceName)/\(task.slot)" }

    func start(_ task: DesiredTask) throws(DataPlaneError) {
        let dir = taskDirectory(task.id)
        let resolv = dir + "/resolv.conf"
        let hosts = dir + "/hosts"
        let addresses = task.attachments.map { "\($0.address) \(task.name) \(task.serviceName)\n" }.joined()
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw DataPlaneError("create the directory of task \(task.name)", reason: "\(error)")
        }
        // Shoal's DNS answers on 127.0.0.11 inside the task's namespace (Docker's address).
        try TaskFile.write("nameserver 127.0.0.11\noptions ndots:0\n", to: resolv)
        try TaskFile.write("127.0.0.1 localhost\n::1 localhost\n" + addresses, to: hosts)
        var environment = ["PATH=" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        environment += [
            "SHOAL_TASK_ID=\(task.id)", "SHOAL_TASK_NAME=\(task.name)",
            "SHOAL_SERVICE_NAME=\(task.serviceName)",
        ]
        environment += task.env
        let record = try TaskLauncher.spawn(
            command: task.command, environment: environment,
            networkNamespace: namespaces.path(KernelNames.taskNamespace(task.id)), resolvConf: resolv,
            hosts: hosts,
            logFile: logFile(task.id))
        workloads[task.id] = Workload(
            record: record, child: true, stopDeadline: nil, slotKey: Self.slotKey(task))
        do throws(DataPlaneError) {
            guard let encoded = try? JSONEncoder().encode(record) else {
                throw DataPlaneError("encode the process record", reason: "JSONEncoder failed")
            }
            try TaskFile.write(Array(encoded), to: recordFile(task.id))
        } catch {
            // Without the record a restarted agent cannot adopt it: stop it rather than orphan it.
            record.signal(SIGKILL)
            throw DataPlaneError(
                "save the pid of task \(task.name)", errno: error.errno,
                reason: "\(error.operation): \(error.reason)")
        }
    }

    /// Notices ended workloads and escalates stops past their grace period. Returns true when a
    /// workload ended (the caller reconciles: its namespace may go now).
    public func tick(now: Double = Date().timeIntervalSince1970) async -> Bool {
        var changed = false
        for (id, workload) in workloads {
            var status: ExitStatus?
            if workload.child {
                status = TaskLauncher.reap(workload.record.pid)
            } else if !workload.record.isAlive {
                status = .unknown
            }
            guard let status else {
                if let deadline = workload.stopDeadline, now >= deadline { workload.record.signal(SIGKILL) }
                continue
            }
            changed = true
            workloads[id] = nil
            ended[id] = status.description
            try? FileManager.default.removeItem(atPath: recordFile(id))
            if workload.stopDeadline != nil {
                await report(id, .shutdown, status.description)
            } else {
                lastExit[workload.slotKey] = now
                await report(id, status.succeeded ? .complete : .failed, status.description)
            }
        }
        return changed
    }
}
