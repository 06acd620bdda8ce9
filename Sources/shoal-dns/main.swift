// Runs Shoal's DNS server outside the agent: for the netns tests and the dnsperf benchmark.
//
//   shoal-dns serve --view VIEW.json [--listen 127.0.0.1:5300] [--task NETNS_PATH=TASK_ID]...
//                   [--upstream IP[:PORT]]... [--resolv-conf FILE] [--timeout-ms 2000]
//                   [--threads 1] [--udp-sockets 1]
//   shoal-dns table-bench [ENDPOINTS] [RUNS]      (record table rebuild time, TableBench.swift)
//
// VIEW.json is a JSON array of feed objects (docs/feed-protocol.md). `--task` listens on
// 127.0.0.11:53 inside that namespace, answering for that task. Prints "ready" once listening; on
// SIGHUP it reads VIEW.json again and swaps the record table.
import Foundation
import Glibc
import NIOCore
import NIOPosix
import ShoalDNS
import ShoalModel

struct UsageError: Error, CustomStringConvertible {
    let description: String
}

func values(_ name: String) -> [String] {
    let arguments = CommandLine.arguments
    return arguments.indices.dropLast().filter { arguments[$0] == name }.map { arguments[$0 + 1] }
}

func readView(_ path: String) throws -> [FeedObject] {
    try JSONDecoder().decode([FeedObject].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}

func socketAddress(_ text: String, defaultPort: Int) throws -> SocketAddress {
    let parts = text.split(separator: ":")
    let port = parts.count > 1 ? Int(parts[1]) : defaultPort
    guard let port, parts.count <= 2 else { throw UsageError(description: "not IP[:PORT]: \(text)") }
    return try SocketAddress(ipAddress: String(parts[0]), port: port)
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func serve() async throws {
    guard let viewPath = values("--view").first else {
        throw UsageError(description: "--view FILE is required")
    }
    let threads = Int(values("--threads").first ?? "1") ?? 1
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let records = DNSRecordStore(DNSRecordTable(view: try readView(viewPath)))

    var upstreams = try values("--upstream").map { try socketAddress($0, defaultPort: 53) }
    for path in values("--resolv-conf") {
        upstreams += ForwarderConfig.nameservers(
            resolvConf: try String(contentsOfFile: path, encoding: .utf8))
    }
    var forwarder: DNSForwarder?
    if !upstreams.isEmpty {
        let timeout = TimeAmount.milliseconds(Int64(values("--timeout-ms").first ?? "2000") ?? 2000)
        forwarder = try await DNSForwarder.start(
            config: ForwarderConfig(servers: upstreams, timeout: timeout), group: group)
    }
    let server = DNSServer(group: group, records: records, forwarder: forwarder)
    var listeners: [DNSListener] = []
    for listen in values("--listen") {
        let address = try socketAddress(listen, defaultPort: 53)
        listeners.append(
            try await server.serve(
                host: address.ipAddress ?? "127.0.0.1", port: address.port ?? 53, scope: .all,
                udpSockets: Int(values("--udp-sockets").first ?? "1") ?? 1))
    }
    for task in values("--task") {
        let parts = task.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else {
            throw UsageError(description: "--task wants NETNS_PATH=TASK_ID: \(task)")
        }
        let sockets = try NamespaceSockets.make(netnsPath: String(parts[0]), address: "127.0.0.11", port: 53)
        listeners.append(
            try await server.serve(
                udpSocket: sockets.udp, tcpSocket: sockets.tcp, scope: .task(String(parts[1]))))
    }
    signal(SIGHUP, SIG_IGN)
    let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .main)
    reload.setEventHandler {
        do {
            records.replace(view: try readView(viewPath))
            say("reloaded")
        } catch {
            say("reload failed: \(error)")
        }
    }
    reload.resume()
    say("ready \(records.current.nameCount) names, \(listeners.count) listeners")
    while true { try await Task.sleep(for: .seconds(3600)) }
}

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "serve": try await serve()
    case "table-bench":
        TableBench.run(
            endpoints: arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000,
            runs: arguments.count > 2 ? Int(arguments[2]) ?? 21 : 21)
    default:
        throw UsageError(
            description:
                "usage: shoal-dns serve --view FILE [options] | shoal-dns table-bench [ENDPOINTS] [RUNS] (see the source header)"
        )
    }
} catch {
    FileHandle.standardError.write(Data("shoal-dns: \(error)\n".utf8))
    exit(1)
}
