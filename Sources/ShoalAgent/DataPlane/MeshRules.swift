import Foundation
import ShoalModel

/// Shoal's nft table inside a network namespace: VIP traffic is marked with its VIP's firewall
/// mark (the IPVS service key), and whatever IPVS forwards is SNATed to the node's LB address so
/// the task's reply comes back through this namespace. The table is Shoal's alone and is
/// rewritten whole in one `nft -f -` transaction (add, delete, define: atomic, fine when absent).
/// The SNAT rule's comment carries a digest of the rules (nft 1.0.6 leaves table comments out of
/// its JSON; rule comments are in it): read back with `nft -j list table`, it says whether the
/// kernel holds exactly this generation.
public enum MeshRules {
    static func body(_ balancer: DesiredBalancer, digest: String = "") -> String {
        let vips = balancer.services.values.filter { $0.vip != nil }.sorted { $0.mark < $1.mark }.compactMap {
            service in service.vip.map { "\($0) : \(String(format: "0x%08x", service.mark))" }
        }
        var maps = "    map vips {\n        " + mapBody("ipv4_addr : mark", vips) + "\n    }\n"
        var marks = "        meta mark set ip daddr map @vips\n"
        if let ingress = balancer.ingress {
            let ports = balancer.services.values.sorted { $0.mark < $1.mark }.compactMap { service in
                service.published.map {
                    "\($0.proto.rawValue) . \($0.port) : \(String(format: "0x%08x", service.mark))"
                }
            }
            maps +=
                "    map ports {\n        " + mapBody("inet_proto . inet_service : mark", ports) + "\n    }\n"
            marks +=
                "        iifname \"\(MeshNames.ingressInterface)\" ip daddr \(ingress.address) "
                + "meta mark set meta l4proto . th dport map @ports\n"
        }
        return maps + """
                chain prerouting {
                    type filter hook prerouting priority mangle; policy accept;
            \(marks)    }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    meta mark != 0 snat to \(balancer.address) comment "\(digest)"
                }
            """
    }

    /// A map's type and, when there are any, its elements.
    static func mapBody(_ type: String, _ elements: [String]) -> String {
        elements.isEmpty
            ? "type \(type)" : "type \(type)\n        elements = { \(elements.joined(separator: ", ")) }"
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
            \(body(balancer, digest: digest(balancer)))
            }

            """
    }

    static let listCommand = ["nft", "-j", "list", "table", "ip", MeshNames.table]

    /// The digest comment of a rule of Shoal's table in `nft -j list table` output, nil when absent.
    public static func readDigest(_ json: String?, prefix: String = "shoal-mesh-") -> String? {
        guard let data = json?.data(using: .utf8),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let items = root["nftables"] as? [[String: Any]]
        else { return nil }
        for item in items {
            if let rule = item["rule"] as? [String: Any], let comment = rule["comment"] as? String,
                comment.hasPrefix(prefix)
            {
                return comment
            }
        }
        return nil
    }
}

/// The node namespace's table `shoal_ingress`: a published port (ingress mode) is DNATed to the
/// ingress namespace's `gw0`, a host-mode port to its local task's egress address, both only for
/// traffic to one of the node's own addresses. One transaction per change; the table is removed
/// when there is nothing to publish.
enum HostRules {
    static func body(_ ports: [HostPort], digest: String = "") -> String {
        let elements = ports.map {
            "\($0.published.proto.rawValue) . \($0.published.port) : \($0.address) . \($0.port)"
        }
        let map = "ip to meta l4proto . th dport map @ports"
        return """
                map ports {
                    \(MeshRules.mapBody("inet_proto . inet_service : ipv4_addr . inet_service", elements))
                }
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    fib daddr type local dnat \(map) comment "\(digest)"
                }
                chain output {
                    type nat hook output priority -100; policy accept;
                    fib daddr type local dnat \(map)
                }
            """
    }

    /// Nil when there is nothing to publish (no table).
    static func digest(_ ports: [HostPort]) -> String? {
        ports.isEmpty ? nil : "shoal-ingress-" + String(KernelNames.fnv1a(body(ports)), radix: 16)
    }

    static func transaction(_ ports: [HostPort]) -> String {
        let table = MeshNames.hostTable
        let header = "add table ip \(table)\ndelete table ip \(table)\n"
        guard let digest = digest(ports) else { return header }
        return header + "table ip \(table) {\n" + body(ports, digest: digest) + "\n}\n"
    }

    static let listCommand = ["nft", "-j", "list", "table", "ip", MeshNames.hostTable]
}
