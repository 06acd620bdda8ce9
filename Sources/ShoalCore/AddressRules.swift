import ShoalModel

/// Which IPv4 addresses and prefixes may be a node's underlay address or an overlay subnet.
/// Each check returns the reason a person reads, or nil when the value is fine.
public enum AddressRules {
    /// Ranges no overlay may use: packets to them never leave the host or never reach one host.
    static let reservedRanges: [(CIDR, String)] = [
        (CIDR(network: IPv4Address(0x0000_0000), clampedPrefix: 8), "the unspecified range 0.0.0.0/8"),
        (CIDR(network: IPv4Address(0x7f00_0000), clampedPrefix: 8), "the loopback range 127.0.0.0/8"),
        (CIDR(network: IPv4Address(0xa9fe_0000), clampedPrefix: 16), "the link-local range 169.254.0.0/16"),
        (CIDR(network: IPv4Address(0xe000_0000), clampedPrefix: 4), "the multicast range 224.0.0.0/4"),
        (CIDR(network: IPv4Address(0xf000_0000), clampedPrefix: 4), "the reserved range 240.0.0.0/4"),
    ]

    /// Why `subnet` cannot be an overlay subnet (nil: it can).
    public static func subnetProblem(_ subnet: CIDR) -> String? {
        for (range, name) in reservedRanges where range.overlaps(subnet) {
            return "\(subnet) overlaps \(name)"
        }
        return nil
    }

    /// Why `address` cannot be a node's underlay address (nil: it can). Loopback is allowed: a
    /// one-machine cluster (and the tests) run on it.
    public static func underlayProblem(_ address: IPv4Address) -> String? {
        if address.value >> 24 == 0 {
            return "\(address) is unspecified (0.0.0.0/8), not an address peers can reach"
        }
        if address.value == UInt32.max { return "\(address) is the broadcast address" }
        if address.value >> 28 == 0xe { return "\(address) is a multicast address" }
        if address.value >> 28 == 0xf { return "\(address) is in the reserved range 240.0.0.0/4" }
        return nil
    }

    /// `underlayProblem`, and an address inside an overlay network is refused too: its packets would
    /// go into the tunnel they are meant to carry.
    static func nodeAddressProblem(_ address: IPv4Address, state: ClusterState) -> String? {
        if let problem = underlayProblem(address) { return problem }
        let sorted = state.networks.values.sorted { $0.name < $1.name }
        if let network = sorted.first(where: { $0.subnet.contains(address) }) {
            return "\(address) is inside overlay network \(network.name) (\(network.subnet))"
        }
        return nil
    }
}
