import Foundation
import ShoalModel
import Testing

@testable import ShoalCore

/// Agents' task reports that arrive together are written together (issue 12): fewer store writes
/// than reports, each report answered once durable, and a bad one failing alone.
@Suite struct ReportBatchTests {
    @Test func reportsArrivingTogetherShareWritesAndFailAlone() async throws {
        let h = try await Harness.make()
        let node = try await h.addNode("n1", address: "192.168.0.1")
        try await h.service(ServiceSpec(name: "web", replicas: 40, command: ["x"]))
        try await h.manager.reconcile()
        let tasks = await h.state.tasks(of: "web")
        #expect(tasks.count == 40 && tasks.allSatisfy { $0.state == .assigned && $0.nodeID == node.id })
        let before = await h.manager.store.current().revision
        let manager = h.manager
        let answers = await withTaskGroup(of: (String, Result<ClusterTask, StoreError>).self) { group in
            for id in tasks.map(\.id) + ["no-such-task"] {
                group.addTask {
                    do {
                        let report = TaskStatusReport(nodeID: node.id, state: .running)
                        return (id, .success(try await manager.report(id, report)))
                    } catch let error as StoreError {
                        return (id, .failure(error))
                    } catch {
                        return (id, .failure(.storage("\(error)")))
                    }
                }
            }
            var answers: [String: Result<ClusterTask, StoreError>] = [:]
            for await (id, answer) in group { answers[id] = answer }
            return answers
        }
        #expect(answers["no-such-task"] == .failure(.notFound("no task no-such-task")))
        for task in tasks {
            #expect((try? answers[task.id]?.get())?.state == .running)
        }
        // Answered means committed: every report is in the state, in fewer writes than reports.
        let (revision, state) = await h.manager.store.current()
        #expect(state.running("web").count == 40)
        #expect(revision > before && revision - before < 20, "\(revision - before) writes for 40 reports")
    }
}
