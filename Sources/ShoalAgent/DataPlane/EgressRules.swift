import ShoalModel

/// Shoal's nft table for task egress: traffic from the gateway bridge's subnet that leaves by
/// another interface is masqueraded. The table is Shoal's alone and is rewritten whole in one
/// `nft -f -` transaction (add, then delete, then define: atomic, and fine when it is absent).
enum EgressRules {
    static let listCommand = ["nft", "-j", "list", "table", "ip", KernelNames.nftTable]

    static func transaction(_ config: OverlayConfig) -> String {
        let table = KernelNames.nftTable
        return """
            add table ip \(table)
            delete table ip \(table)
            table ip \(table) {
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr \(config.egressSubnet) oifname != "\(KernelNames.egressBridge)" masquerade
                }
            }

            """
    }

    /// Reads `nft -j list table` output: the masquerade rule for our subnet is there.
    static func matches(_ json: String?, _ config: OverlayConfig) -> Bool {
        guard let json else { return false }
        let subnet = config.egressSubnet
        return json.contains("\"masquerade\"") && json.contains("\"addr\": \"\(subnet.network)\"")
            && json.contains("\"len\": \(subnet.prefixLength)")
            && json.contains("\"\(KernelNames.egressBridge)\"")
    }
}
