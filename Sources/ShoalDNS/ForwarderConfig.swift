import NIOCore

/// Where and how the forwarder asks: upstream servers in order, per-try timeout, limits.
public struct ForwarderConfig: Sendable {
    public var servers: [SocketAddress]
    /// How long one upstream has to answer before the next is tried.
    public var timeout: TimeAmount
    /// Distinct questions waiting on upstreams at once; more get SERVFAIL at once instead of queueing
    /// without bound (Docker's hard cap of 1,024 is the failure users hit; here it is a setting).
    public var maxInFlight: Int
    public var cacheEntries: Int
    /// No answer is cached longer than this, whatever its TTL.
    public var maxCacheTTL: UInt32

    public init(
        servers: [SocketAddress], timeout: TimeAmount = .seconds(2), maxInFlight: Int = 4096,
        cacheEntries: Int = 10_000, maxCacheTTL: UInt32 = 3600
    ) {
        self.servers = servers
        self.timeout = timeout
        self.maxInFlight = maxInFlight
        self.cacheEntries = cacheEntries
        self.maxCacheTTL = maxCacheTTL
    }

    /// The nameservers of a resolv.conf, on port 53, without 127.0.0.11 (Shoal's own address: asking
    /// it would loop). Unparseable lines are skipped, as the C library does.
    public static func nameservers(resolvConf text: String) -> [SocketAddress] {
        var servers: [SocketAddress] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver", fields[1] != "127.0.0.11",
                let address = try? SocketAddress(ipAddress: String(fields[1]), port: 53)
            else { continue }
            servers.append(address)
        }
        return servers
    }
}
