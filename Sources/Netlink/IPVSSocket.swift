import CMnl
import Glibc

/// A generic netlink socket speaking to the kernel's IPVS family in one namespace.
/// Synchronous and not thread-safe: use it from one thread (IPVSClient gives it one).
public final class IPVSSocket {
    public let namespace: NetworkNamespace
    let fd: Int32
    /// The generic netlink id of "IPVS", resolved when the socket opens.
    let family: UInt16
    private var sequence: UInt32 = 1
    /// Batches send many requests before reading ACKs; false sends one and waits for its ACK
    /// (ipvsadm's way; the benchmark's control run).
    public var pipelining = true

    /// Opens the socket inside `namespace` and resolves the IPVS family. Fails with isNotFound
    /// (ENOENT) when the kernel has no IPVS.
    public init(namespace: NetworkNamespace = .current) throws(NetlinkError) {
        let opened = try Socket.openNetlink(NETLINK_GENERIC, in: namespace)
        self.namespace = namespace
        fd = opened
        do throws(NetlinkError) {
            family = try IPVSSocket.resolve(fd: fd, sequence: 0x7000_0000)
        } catch {
            close(opened)
            throw error
        }
    }

    deinit { close(fd) }

    private static func resolve(fd: Int32, sequence: UInt32) throws(NetlinkError) -> UInt16 {
        let operation = "resolve generic netlink family IPVS"
        let request = try IPVSMessages.resolveFamily("IPVS")
        let replies = try exchange(fd: fd, request, sequence: sequence, operation: operation)
        for reply in replies {
            if let id = IPVSMessages.parseFamilyID(reply) { return id }
        }
        throw .errno(ENOENT, operation, detail: "no IPVS in this kernel (ip_vs not loaded?)")
    }

    /// Sends one request and reads its answers up to the ACK; returns the data payloads.
    private static func exchange(
        fd: Int32, _ request: [UInt8], sequence: UInt32, operation: String
    ) throws(NetlinkError) -> [[UInt8]] {
        try Exchange.run(fd: fd, request, sequence: sequence, operation: operation).map(\.payload)
    }

    private func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// One request, waiting for its ACK.
    private func perform(_ message: [UInt8], operation: String) throws(NetlinkError) -> [[UInt8]] {
        try IPVSSocket.exchange(fd: fd, message, sequence: nextSequence(), operation: operation)
    }

    private func dump(_ message: [UInt8], operation: @autoclosure () -> String) throws(NetlinkError)
        -> [[UInt8]]
    {
        try Dump(fd: fd).run(
            message, sequence: nextSequence(), operation: operation(), buffer: &ReceiveSpace.current.bytes
        )
        .map(\.payload)
    }

    // MARK: Single operations

    public func apply(_ request: IPVSRequest) throws(NetlinkError) {
        _ = try perform(
            try IPVSMessages.request(request, family: family), operation: IPVSSocket.describe(request))
    }

    public func addService(_ service: VirtualService) throws(NetlinkError) { try apply(.addService(service)) }
    public func updateService(_ service: VirtualService) throws(NetlinkError) {
        try apply(.updateService(service))
    }
    public func deleteService(_ key: ServiceKey) throws(NetlinkError) { try apply(.deleteService(key)) }
    public func addDestination(_ destination: Destination, to key: ServiceKey) throws(NetlinkError) {
        try apply(.addDestination(key, destination))
    }
    public func updateDestination(_ destination: Destination, in key: ServiceKey) throws(NetlinkError) {
        try apply(.updateDestination(key, destination))
    }
    public func deleteDestination(_ address: IPAddress, port: UInt16, from key: ServiceKey)
        throws(NetlinkError)
    {
        try apply(.deleteDestination(key, address, port: port))
    }
    public func flush() throws(NetlinkError) { try apply(.flush) }

    /// The service with this key, nil when there is none.
    public func service(_ key: ServiceKey) throws(NetlinkError) -> VirtualService? {
        let message = try IPVSMessages.message(
            family: family, command: IPVSMessages.Command.getService.rawValue
        ) { b throws(NetlinkError) in
            try IPVSMessages.putService(&b, key: key, full: nil)
        }
        do throws(NetlinkError) {
            return try perform(message, operation: "get service \(key)").compactMap(IPVSMessages.parseService)
                .first
        } catch  where error.isNotFound || error.code == .errno(ESRCH) {
            return nil
        }
    }

    /// All services, in one dump.
    public func services() throws(NetlinkError) -> [VirtualService] {
        let message = try IPVSMessages.message(
            family: family, command: IPVSMessages.Command.getService.rawValue)
        return try dump(message, operation: "dump services").compactMap(IPVSMessages.parseService)
    }

    /// The destinations of one service, in one dump.
    public func destinations(of key: ServiceKey) throws(NetlinkError) -> [Destination] {
        let message = try IPVSMessages.message(
            family: family, command: IPVSMessages.Command.getDestination.rawValue
        ) { b throws(NetlinkError) in
            try IPVSMessages.putService(&b, key: key, full: nil)
        }
        return try dump(message, operation: "dump destinations of \(key)").compactMap {
            IPVSMessages.parseDestination($0, serviceFamily: key.family)
        }
    }

    /// Every service with its destinations.
    public func state() throws(NetlinkError) -> [(service: VirtualService, destinations: [Destination])] {
        var result: [(service: VirtualService, destinations: [Destination])] = []
        for service in try services() {
            result.append((service, try destinations(of: service.key)))
        }
        return result
    }

    public func info() throws(NetlinkError) -> IPVSInfo {
        let message = try IPVSMessages.message(family: family, command: IPVSMessages.Command.getInfo.rawValue)
        guard
            let info = try perform(message, operation: "get ipvs info").compactMap(IPVSMessages.parseInfo)
                .first
        else { throw .errno(EPROTO, "get ipvs info", detail: "no version in the answer") }
        return info
    }

    public func timeouts() throws(NetlinkError) -> IPVSTimeouts {
        let message = try IPVSMessages.message(
            family: family, command: IPVSMessages.Command.getConfig.rawValue)
        guard let reply = try perform(message, operation: "get ipvs config").first else {
            throw .errno(EPROTO, "get ipvs config", detail: "empty answer")
        }
        return IPVSMessages.parseTimeouts(reply)
    }

    public func setTimeouts(_ timeouts: IPVSTimeouts) throws(NetlinkError) {
        _ = try perform(try IPVSMessages.setConfig(timeouts, family: family), operation: "set ipvs config")
    }

    // MARK: Batches

    /// Sends all requests pipelined (each with its own sequence number and ACK) and returns one
    /// result per request, in order: nil when it was applied, else the error it caused.
    /// A failed request does not stop the others; one that cannot be built (e.g. a scheduler
    /// name too long) fails on its own and is not sent.
    public func apply(batch requests: [IPVSRequest]) -> [NetlinkError?] {
        var results = [NetlinkError?](repeating: nil, count: requests.count)
        var messages: [[UInt8]] = []
        var positions: [Int] = []
        for (index, request) in requests.enumerated() {
            do throws(NetlinkError) {
                messages.append(try IPVSMessages.request(request, family: family))
                positions.append(index)
            } catch {
                results[index] = error
            }
        }
        let first = sequence &+ 1
        sequence &+= UInt32(messages.count) &+ 1
        let sent = Pipeline(fd: fd, pipelining: pipelining).run(messages, firstSequence: first) {
            IPVSSocket.describe(requests[positions[$0]])
        }
        for (offset, result) in sent.enumerated() { results[positions[offset]] = result }
        return results
    }

    static func describe(_ request: IPVSRequest) -> String {
        switch request {
        case .addService(let service): "add service \(service.key)"
        case .updateService(let service): "update service \(service.key)"
        case .deleteService(let key): "delete service \(key)"
        case .addDestination(let key, let destination):
            "add destination \(destination.address):\(destination.port) to \(key)"
        case .updateDestination(let key, let destination):
            "update destination \(destination.address):\(destination.port) in \(key)"
        case .deleteDestination(let key, let address, let port):
            "delete destination \(address):\(port) from \(key)"
        case .flush: "flush ipvs"
        }
    }
}
