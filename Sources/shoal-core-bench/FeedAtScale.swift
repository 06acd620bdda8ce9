import Foundation
import ShoalCore
import ShoalModel

/// The first sync of many feeds at the cluster's final size: `nodes` open their feed again (ending
/// their agent's) all at once and read their COMPLETE as a joining agent does, scanning each part
/// as it comes. At 100,000 tasks a view is about 30 MB: 1,000 of them built whole would be 30 GB.
enum FirstSync {
    static func run(nodes: [String], manager: Manager) async -> String {
        let rssBefore = residentMiB()
        let start = now()
        // The most COMPLETEs under way and bytes handed to the feeds' connections at once.
        let sampler = Task {
            var most = (completes: 0, bytes: 0)
            while !Task.isCancelled {
                let statistics = manager.feedStatistics
                most.completes = max(most.completes, statistics.completesInFlight)
                most.bytes = max(most.bytes, statistics.handedOutBytes)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return most
        }
        let (bytes, tasks) = await withTaskGroup(of: (bytes: Int, tasks: Int).self) { group in
            for id in nodes {
                group.addTask {
                    guard let subscription = try? await manager.feed(nodeID: id, since: nil) else {
                        return (0, 0)
                    }
                    defer { subscription.cancel() }
                    var scanner = TaskScanner()
                    var read = (bytes: 0, tasks: 0)
                    for await chunk in subscription.chunks {
                        read.bytes += chunk.count
                        read.tasks += scanner.scan(chunk).count
                        if chunk.last == UInt8(ascii: "\n") { break }
                        await Task.yield()
                    }
                    return read
                }
            }
            return await group.reduce(into: (0, 0)) { total, read in
                total.0 += read.bytes
                total.1 += read.tasks
            }
        }
        let seconds = now() - start
        sampler.cancel()
        let most = await sampler.value
        return
            "first sync of \(nodes.count) feeds at once: \(format(seconds, 2)) s, \(bytes / 1_000_000) MB of"
            + " COMPLETEs (\(tasks) task objects); at most \(most.completes) COMPLETEs in flight and"
            + " \(most.bytes / 1024) KiB handed out at a 20 ms sample; RSS \(format(rssBefore, 0)) MiB before,"
            + " peak RSS of the run \(format(peakResidentMiB(), 0)) MiB after"
    }
}

/// `--bulk`: every service created, placed and reported running in one write, so the feeds reach
/// the full size (100,000 tasks) without one reconcile pass per create and per report, which is
/// what bounds the bench's create phase today. The feeds see one commit that fills every view.
enum BulkCluster {
    static func create(
        services: Int, replicas: Int, networkIDs: [String], manager: Manager, config: AllocatorConfig
    ) async throws {
        let orchestration = manager.config.orchestrator
        _ = try await manager.apply { state in
            for index in 0..<services {
                let spec = ServiceSpec(
                    name: "svc\(index)", replicas: replicas, command: ["sleep", "inf"],
                    networks: [NetworkAttachment(target: networkIDs[index % networkIDs.count])])
                _ = try Operations.createService(spec, id: ObjectID.make(), state: &state, config: config)
            }
            let time = Date().timeIntervalSince1970
            let seen = Dictionary(uniqueKeysWithValues: state.nodes.keys.map { ($0, time) })
            Orchestrator.reconcile(
                &state, now: time, lastHeartbeat: seen, config: orchestration, makeID: ObjectID.make)
            for task in state.tasks.values where task.desiredState == .running {
                guard let nodeID = task.nodeID else { continue }
                _ = try Operations.reportTaskStatus(
                    task.id, report: TaskStatusReport(nodeID: nodeID, state: .running), state: &state,
                    now: time)
            }
        }
        // Every feed takes what that commit put in its view (a COMPLETE of ~30 MB each at 100,000
        // tasks) before anything is measured: a change waits behind the COMPLETE under way on its feed.
        let start = now()
        let revision = manager.feedStatistics.revision
        while now() - start < 600 {
            let statistics = manager.feedStatistics
            if statistics.oldestSent >= revision && statistics.completesInFlight == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("feeds took the bulk commit in \(format(now() - start, 2)) s: \(manager.feedStatistics)")
    }
}
