import CMnl
import Glibc

/// A generic netlink socket (libmnl) speaking to the kernel's IPVS family in one namespace.
/// Synchronous and not thread-safe: use it from one thread (IPVSClient gives it one).
public final class IPVSSocket {
    public let namespace: NetworkNamespace
    private let socket: OpaquePointer
    private let fd: Int32
    /// The generic netlink id of "IPVS", resolved when the socket opens.
    let family: UInt16
    private var sequence: UInt32 = 1
    private var receiveBuffer: [UInt8] = []

    /// Opens the socket inside `namespace` and resolves the IPVS family. Fails with isNotFound
    /// (ENOENT) when the kernel has no IPVS.
    public init(namespace: NetworkNamespace = .current) throws(NetlinkError) {
        let opened = try namespace.withEntered { () throws(NetlinkError) -> OpaquePointer in
            guard let made = mnl_socket_open(NETLINK_GENERIC) else {
                throw .lastErrno("open generic netlink in \(namespace)")
            }
            return made
        }
        guard mnl_socket_bind(opened, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = NetlinkError.lastErrno("bind generic netlink")
            mnl_socket_close(opened)
            throw error
        }
        self.namespace = namespace
        socket = opened
        fd = mnl_socket_get_fd(opened)
        Socket.tune(fd)
        do throws(NetlinkError) {
            family = try IPVSSocket.resolve(fd: fd, sequence: 0x7000_0000)
        } catch {
            mnl_socket_close(opened)
            throw error
        }
    }

    deinit { mnl_socket_close(socket) }

    private static func resolve(fd: Int32, sequence: UInt32) throws(NetlinkError) -> UInt16 {
        let operation = "resolve generic netlink family IPVS"
        var request = IPVSMessages.resolveFamily("IPVS")
        Pipeline.store(Pipeline.load16(request, 6) | Pipeline.ackFlag, in: &request, at: 6)
        Pipeline.store32(sequence, in: &request, at: 8)
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
        if let error = Socket.send(fd, request, operation: operation) { throw error }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var payloads: [[UInt8]] = []
        var failure: NetlinkError?
        var finished = false
        while !finished {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastErrno(operation)
            }
            Pipeline.forEachMessage(buffer, count: count) { type, flags, seq, payload in
                guard seq == sequence else { return }
                if type == Pipeline.errorType {
                    let (code, detail) = Pipeline.parseError(payload, flags: flags)
                    if code != 0 { failure = .errno(-code, operation, detail: detail) }
                    finished = true
                } else if type != Pipeline.doneType {
                    payloads.append(Array(payload))
                }
            }
        }
        if let failure { throw failure }
        return payloads
    }

    private func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// One request, waiting for its ACK.
    private func perform(_ message: [UInt8], operation: String) throws(NetlinkError) -> [[UInt8]] {
        var message = message
        let seq = nextSequence()
        Pipeline.store(Pipeline.load16(message, 6) | Pipeline.ackFlag, in: &message, at: 6)
        Pipeline.store32(seq, in: &message, at: 8)
        return try IPVSSocket.exchange(fd: fd, message, sequence: seq, operation: operation)
    }

    private func dump(_ message: [UInt8], operation: @autoclosure () -> String) throws(NetlinkError)
        -> [[UInt8]]
    {
        try Dump(fd: fd).run(
            message, sequence: nextSequence(), operation: operation(), buffer: &receiveBuffer
        )
        .map(\.payload)
    }

    // MARK: Single operations

    public func apply(_ request: IPVSRequest) throws(NetlinkError) {
        _ = try perform(
            IPVSMessages.request(request, family: family), operation: IPVSSocket.describe(request))
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
        let message = IPVSMessages.message(family: family, command: IPVSMessages.Command.getService.rawValue)
        {
            IPVSMessages.putService($0, key: key, full: nil)
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
        let message = IPVSMessages.message(family: family, command: IPVSMessages.Command.getService.rawValue)
        return try dump(message, operation: "dump services").compactMap(IPVSMessages.parseService)
    }

    /// The destinations of one service, in one dump.
    public func destinations(of key: ServiceKey) throws(NetlinkError) -> [Destination] {
        let message = IPVSMessages.message(
            family: family, command: IPVSMessages.Command.getDestination.rawValue
        ) {
            IPVSMessages.putService($0, key: key, full: nil)
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
        let message = IPVSMessages.message(family: family, command: IPVSMessages.Command.getInfo.rawValue)
        guard
            let info = try perform(message, operation: "get ipvs info").compactMap(IPVSMessages.parseInfo)
                .first
        else { throw .errno(EPROTO, "get ipvs info", detail: "no version in the answer") }
        return info
    }

    public func timeouts() throws(NetlinkError) -> IPVSTimeouts {
        let message = IPVSMessages.message(family: family, command: IPVSMessages.Command.getConfig.rawValue)
        guard let reply = try perform(message, operation: "get ipvs config").first else {
            throw .errno(EPROTO, "get ipvs config", detail: "empty answer")
        }
        return IPVSMessages.parseTimeouts(reply)
    }

    public func setTimeouts(_ timeouts: IPVSTimeouts) throws(NetlinkError) {
        _ = try perform(IPVSMessages.setConfig(timeouts, family: family), operation: "set ipvs config")
    }

    // MARK: Batches

    /// Sends all requests pipelined (each with its own sequence number and ACK) and returns one
    /// result per request, in order: nil when it was applied, else the error it caused.
    /// A failed request does not stop the others.
    public func apply(batch requests: [IPVSRequest]) -> [NetlinkError?] {
        let messages = requests.map { IPVSMessages.request($0, family: family) }
        let first = sequence &+ 1
        sequence &+= UInt32(requests.count) &+ 1
        return Pipeline(fd: fd).run(messages, firstSequence: first) { IPVSSocket.describe(requests[$0]) }
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
