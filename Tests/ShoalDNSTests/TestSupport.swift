import Foundation
import NIOCore
import ShoalModel
import Testing

@testable import ShoalDNS

/// The packets in Corpus/, by file name without ".bin".
func corpus() throws -> [String: [UInt8]] {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Corpus")
    var packets: [String: [UInt8]] = [:]
    for file in try FileManager.default.contentsOfDirectory(atPath: directory.path)
    where file.hasSuffix(".bin") {
        packets[String(file.dropLast(4))] = Array(
            try Data(contentsOf: directory.appendingPathComponent(file)))
    }
    return packets
}

func corpusPacket(_ name: String) throws -> [UInt8] {
    try #require(try corpus()[name], "Corpus/\(name).bin is missing")
}

/// A query as a stub resolver sends it: RD set, one question, OPT when `udpSize` is given.
func makeQuery(_ name: String, _ type: DNSType, id: UInt16 = 0x1234, udpSize: UInt16? = nil) throws
    -> ByteBuffer
{
    var message = DNSMessage(
        header: DNSHeader(id: id, flags: 0x0100),
        questions: [DNSQuestion(name: try DNSName(name), type: type)])
    if let udpSize { message.additionals = [.opt(udpSize: udpSize)] }
    return message.encoded()
}

func ip(_ text: String) throws -> IPv4Address { try #require(IPv4Address(text)) }

/// The two-network view of scripts/lib/dns-fixtures.py's lab, built in Swift.
func labView() throws -> [FeedObject] {
    func network(_ id: String, _ subnet: String) throws -> FeedObject {
        .network(
            FeedNetwork(
                id: id, name: id, vni: 4097, subnet: try #require(CIDR(subnet)), gateway: try ip("10.0.0.1"),
                mtu: 1450,
                internal: false, ingress: false, loadBalancerIP: nil))
    }
    func endpoint(_ net: String, _ task: String, _ service: String, _ address: String, up: Bool = true) throws
        -> FeedObject
    {
        .endpoint(
            FeedEndpoint(
                networkID: net, taskID: task, taskName: "\(service).\(task)", serviceID: "s-\(service)",
                serviceName: service, aliases: task == "w1" ? ["web-primary"] : [], address: try ip(address),
                mac: try #require(MACAddress("02:42:00:00:00:01")), nodeID: "n1",
                nodeAddress: try ip("172.29.0.11"),
                state: up ? .up : .draining))
    }
    func task(_ id: String, _ nets: [String]) -> FeedObject {
        .task(
            FeedTask(
                id: id, name: id, serviceID: "s-\(id)", serviceName: id, slot: 1, desiredState: .running,
                spec: TaskSpec(command: ["sleep"]),
                endpoints: nets.map { TaskEndpoint(networkID: $0, networkName: $0) }))
    }
    func service(
        _ net: String, _ name: String, _ mode: EndpointMode, _ vip: String?, ports: [PortConfig] = []
    )
        throws -> FeedObject
    {
        .service(
            FeedService(
                networkID: net, serviceID: "s-\(name)", serviceName: name,
                aliases: name == "web" ? ["www"] : [],
                endpointMode: mode, virtualIP: try vip.map(ip), ports: ports))
    }
    var view = [
        try network("front", "10.10.0.0/24"), try network("back", "10.20.0.0/24"),
        task("t-cf", ["front"]), task("t-cb", ["back"]), task("t-both", ["front", "back"]),
        try service("front", "web", .vip, "10.10.0.2", ports: [PortConfig(target: 80, name: "http")]),
        try endpoint("front", "w1", "web", "10.10.0.11"), try endpoint("front", "w2", "web", "10.10.0.12"),
        try endpoint("front", "w3", "web", "10.10.0.13", up: false),
        try service("back", "db", .dnsrr, nil),
        try endpoint("back", "d1", "db", "10.20.0.21"), try endpoint("back", "d2", "db", "10.20.0.22"),
        try service("front", "api", .vip, "10.10.0.3"), try service("back", "api", .vip, "10.20.0.3"),
        try service("front", "big", .dnsrr, nil),
    ]
    for index in 1...60 { view.append(try endpoint("front", "b\(index)", "big", "10.10.0.\(100 + index)")) }
    return view
}

/// Runs one request through the server's query path with no network, as a listener of `scope` would.
func answer(
    _ request: ByteBuffer, scope: DNSScope = .all, overUDP: Bool = true, view: [FeedObject]? = nil
) throws -> DNSMessage? {
    let processor = QueryProcessor(
        records: DNSRecordStore(DNSRecordTable(view: try view ?? labView())), forwarder: nil)
    var rng = ShuffleRNG()
    let reply = processor.process(
        request, scope: scope, overUDP: overUDP, allocator: ByteBufferAllocator(), rng: &rng,
        deliver: { _ in })
    return try reply.map { try DNSMessage(bytes: $0) }
}

func addresses(_ message: DNSMessage?) -> Set<String> {
    Set(
        (message?.answers ?? []).compactMap { record -> String? in
            guard case .a(let address) = record.data else { return nil }
            return address.description
        })
}
