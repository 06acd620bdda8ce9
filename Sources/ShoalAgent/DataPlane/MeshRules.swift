import Foundation
import ShoalModel

/// Shoal's nft table inside a network namespace: VIP traffic is marked with its VIP's firewall
/// mark (the IPVS service key), and whatever IPVS forwards is SNATed to the node's LB address so
/// the task's reply comes back through this namespace. The table is Shoal's alone and is
/// rewritten whole in one `nft -f -` transaction (add, delete, define: atomic, fine when absent).
/// Its comment carries a digest of the rules: read back with `nft -j list table`, it says
/// whether the kernel holds exactly this generation.
enum MeshRules {
    static func body(_ balancer: DesiredBalancer) -> String {
        let elements = balancer.services.values.sorted { $0.mark < $1.mark }.map {
            "\($0.vip) : \(String(format: "0x%08x", $0.mark))"
        }
        let map =
            elements.isEmpty
            ? "type ipv4_addr : mark"
            : "type ipv4_addr : mark\n        elements = { \(elements.joined(separator: ", ")) }"
        return """
                map vips {
                    \(map)
                }
                chain prerouting {
                    type filter hook prerouting priority mangle; policy accept;
                    meta mark set ip daddr map @vips
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    meta mark != 0 snat to \(balancer.address)
                }
            """
    }

    /// FNV-1a 64 of the rules, in hex.
    static func digest(_ balancer: DesiredBalancer) -> String {
        "shoal-mesh-" + String(KernelNames.fnv1a(body(balancer)), radix: 16)
    }

    static func transaction(_ balancer: DesiredBalancer) -> String {
        let table = MeshNames.table
        return """
            add table ip \(table)
            delete table ip \(table)
            table ip \(table) {
                comment "\(digest(balancer))"
            \(body(balancer))
            }

            """
    }

    static let listCommand = ["nft", "-j", "list", "table", "ip", MeshNames.table]

    /// The comment of Shoal's table in `nft -j list table` output, nil when absent.
    static func readDigest(_ json: String?) -> String? {
        guard let data = json?.data(using: .utf8),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let items = root["nftables"] as? [[String: Any]]
        else { return nil }
        for item in items {
            if let table = item["table"] as? [String: Any], table["name"] as? String == MeshNames.table {
                return table["comment"] as? String
            }
        }
        return nil
    }
}
