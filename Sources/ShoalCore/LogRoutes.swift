import Foundation
import Hummingbird
import NIOCore
import ShoalModel

/// The routes of `service logs`: readers' NDJSON streams, the agents' subscription streams and
/// their chunks (see `LogBroker`).
enum LogRoutes {
    /// `GET /v1/services/{id}/logs?follow=&tail=`: every task of the service, on every node.
    static func serviceLogs(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let name = try ManagerAPI.id(context)
        let state = await ManagerAPI.state(manager)
        guard let service = state.service(named: name) else {
            throw StoreError.notFound("no service \(name)")
        }
        return try await stream(
            state.tasks.values.filter { $0.serviceID == service.id }, request: request, state: state,
            manager: manager)
    }

    /// `GET /v1/tasks/{id}/logs?follow=&tail=`: one task.
    static func taskLogs(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let name = try ManagerAPI.id(context)
        let state = await ManagerAPI.state(manager)
        guard let task = state.task(named: name) else { throw StoreError.notFound("no task \(name)") }
        return try await stream([task], request: request, state: state, manager: manager)
    }

    static func stream(_ tasks: [ClusterTask], request: Request, state: ClusterState, manager: Manager)
        async throws -> Response
    {
        var tail: Int?
        if let text = ManagerAPI.query(request, "tail") {
            guard let value = Int(text), value >= 0 else {
                throw StoreError.invalid(field: "tail", reason: "must be a number of lines, 0 or more")
            }
            tail = value
        }
        let follow = ["true", "1"].contains(ManagerAPI.query(request, "follow") ?? "false")
        var byNode: [String: [LogTask]] = [:]
        for task in tasks.sorted(by: { $0.name < $1.name }) {
            guard let nodeID = task.nodeID, task.state.rank >= TaskState.starting.rank else { continue }
            byNode[nodeID, default: []].append(LogTask(id: task.id, name: task.name))
        }
        let names = Dictionary(
            state.nodes.values.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let broker = manager.logs
        let (id, lines) = await broker.open(tasks: byNode, nodeNames: names, tail: tail, follow: follow)
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                do {
                    let encoder = JSONEncoder()
                    for await line in lines {
                        // Keep-alives are blank lines: a write to a reader that left fails and ends this.
                        let bytes = line.stream == LogBroker.keepalive ? [] : Array(try encoder.encode(line))
                        try await writer.write(ByteBuffer(bytes: bytes + [UInt8(ascii: "\n")]))
                    }
                    try await writer.finish(nil)
                } catch {
                    await broker.close(id)
                    throw error
                }
                await broker.close(id)
            })
    }

    /// `GET /v1/nodes/{id}/logs`: the agent's stream of `LogSubscription`s, one per line.
    static func subscriptions(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let name = try ManagerAPI.id(context)
        guard let node = await ManagerAPI.state(manager).node(named: name) else {
            throw StoreError.notFound("no node \(name)")
        }
        let broker = manager.logs
        let (token, subscriptions) = await broker.connect(nodeID: node.id)
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                do {
                    for await subscription in subscriptions {
                        let bytes = Array(try JSONEncoder().encode(subscription)) + [UInt8(ascii: "\n")]
                        try await writer.write(ByteBuffer(bytes: bytes))
                    }
                    try await writer.finish(nil)
                } catch {
                    await broker.disconnect(nodeID: node.id, token: token)
                    throw error
                }
                await broker.disconnect(nodeID: node.id, token: token)
            })
    }

    /// `POST /v1/nodes/{id}/logs/{subscription}`: 200, or 410 once nobody reads the request.
    static func chunk(_ request: Request, _ context: ShoalRequestContext, _ manager: Manager)
        async throws -> Response
    {
        let name = try ManagerAPI.id(context)
        guard let subscription = context.parameters.get("subscription") else {
            throw StoreError.invalid(field: "subscription", reason: "is required")
        }
        guard let node = await ManagerAPI.state(manager).node(named: name) else {
            throw StoreError.notFound("no node \(name)")
        }
        let chunk = try await ManagerAPI.decode(LogChunk.self, from: request)
        guard await manager.logs.deliver(chunk, request: subscription, nodeID: node.id) else {
            return ManagerAPI.json(
                ErrorResponse(reason: "nobody reads log request \(subscription) any more"), status: .gone)
        }
        return ManagerAPI.json([String: String]())
    }
}
