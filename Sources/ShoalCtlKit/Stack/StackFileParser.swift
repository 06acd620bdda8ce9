import Foundation
import ShoalModel
import Yams

/// Parses a stack file into a `StackFile`: every field checked, variables substituted, unknown keys
/// turned into warnings with their line. The first problem is a `StackFileError` at its line and column.
public enum StackFileParser {
    public static func parse(_ text: String, path: String, environment: [String: String])
        throws(StackFileError) -> StackFile
    {
        var walker = YAMLWalker(path: path, environment: environment)
        let root: YAMLNode
        do {
            guard let parsed = try Yams.compose(yaml: text) else {
                throw StackFileError(path: path, line: 1, column: 1, message: "the file is empty")
            }
            root = parsed
        } catch let error as StackFileError {
            throw error
        } catch let error as YamlError {
            throw syntaxError(error, path: path)
        } catch {
            throw StackFileError(path: path, line: 0, column: 0, message: "not YAML: \(error)")
        }
        var services: [StackService] = []
        var networks: [StackNetwork] = []
        var servicesNode: YAMLNode?
        for entry in try walker.entries(root, "the file") {
            switch entry.key {
            case "version", "name": continue
            case "services": servicesNode = entry.value
            case "networks":
                if walker.isNull(entry.value) { continue }
                for network in try walker.entries(entry.value, "networks") {
                    networks.append(try parseNetwork(network, &walker))
                }
            case "volumes", "secrets", "configs":
                walker.warn(entry.keyNode, "'\(entry.key)' is not supported by Shoal and is ignored")
            default: walker.unknown(entry, in: "the file")
            }
        }
        guard let servicesNode else {
            throw walker.fail(root, "the file has no 'services'")
        }
        let declared = Set(networks.map(\.key))
        for entry in try walker.entries(servicesNode, "services") {
            let service = try ServiceParser.parse(entry, &walker)
            for (index, attachment) in service.networks.enumerated()
            where !declared.contains(attachment.target) && attachment.target != "default" {
                let node = networkNode(entry.value, index: index) ?? entry.keyNode
                throw walker.fail(
                    node,
                    "service \(service.name) uses network \(attachment.target), which the top-level "
                        + "'networks' does not declare")
            }
            services.append(service)
        }
        if services.isEmpty { throw walker.fail(servicesNode, "'services' is empty") }
        return StackFile(
            services: services.sorted { $0.name < $1.name }, networks: networks.sorted { $0.key < $1.key },
            warnings: walker.sortedWarnings)
    }

    /// Yams' syntax errors carry the mark; the message keeps libyaml's problem text.
    static func syntaxError(_ error: YamlError, path: String) -> StackFileError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return StackFileError(
                path: path, line: mark.line, column: mark.column, message: "invalid YAML: \(prefix)\(problem)"
            )
        case .duplicatedKeysInMapping(let duplicates, let context):
            return StackFileError(
                path: path, line: context.mark.line, column: context.mark.column,
                message: "invalid YAML: duplicated key \(duplicates.sorted().joined(separator: ", "))")
        default:
            return StackFileError(path: path, line: 0, column: 0, message: "invalid YAML: \(error)")
        }
    }

    private static func networkNode(_ service: YAMLNode, index: Int) -> YAMLNode? {
        guard case .mapping(let mapping) = service, let networks = mapping["networks"] else { return nil }
        switch networks {
        case .sequence(let items): return index < items.count ? items[index] : nil
        case .mapping(let pairs): return index < pairs.count ? pairs[index].key : nil
        default: return nil
        }
    }

    static func parseNetwork(_ entry: YAMLWalker.Entry, _ walker: inout YAMLWalker) throws(StackFileError)
        -> StackNetwork
    {
        var network = StackNetwork(
            key: entry.key, external: false, name: nil, subnet: nil, attachable: nil, internal: nil,
            labels: [:])
        if walker.isNull(entry.value) { return network }
        let what = "network \(entry.key)"
        for field in try walker.entries(entry.value, what) {
            let value = field.value
            switch field.key {
            case "driver":
                let driver = try walker.string(value, "\(what): driver")
                guard driver == "overlay" else {
                    throw walker.fail(
                        value, "\(what): driver must be overlay (Shoal networks are overlays), not \(driver)")
                }
            case "attachable": network.attachable = try walker.bool(value, "\(what): attachable")
            case "internal": network.internal = try walker.bool(value, "\(what): internal")
            case "name": network.name = try walker.string(value, "\(what): name")
            case "external":
                if case .mapping = value {
                    for sub in try walker.entries(value, "\(what): external") {
                        guard sub.key == "name" else {
                            walker.unknown(sub, in: "\(what): external")
                            continue
                        }
                        network.name = try walker.string(sub.value, "\(what): external.name")
                    }
                    network.external = true
                } else {
                    network.external = try walker.bool(value, "\(what): external")
                }
            case "ipam": network.subnet = try parseIPAM(value, what: what, &walker)
            case "labels":
                for (key, label) in try walker.keyValues(value, "\(what): labels") {
                    network.labels[key] = label ?? ""
                }
            case "driver_opts", "enable_ipv6":
                walker.warn(field.keyNode, "\(what): '\(field.key)' is not supported by Shoal and is ignored")
            default: walker.unknown(field, in: what)
            }
        }
        if network.external, network.subnet != nil || network.attachable != nil || network.internal != nil {
            throw walker.fail(
                entry.keyNode, "\(what) is external: it cannot also set ipam, attachable or internal")
        }
        return network
    }

    static func parseIPAM(_ node: YAMLNode, what: String, _ walker: inout YAMLWalker) throws(StackFileError)
        -> CIDR?
    {
        var subnet: CIDR?
        for field in try walker.entries(node, "\(what): ipam") {
            switch field.key {
            case "driver":
                let driver = try walker.string(field.value, "\(what): ipam.driver")
                guard driver == "default" else {
                    throw walker.fail(field.value, "\(what): ipam.driver must be default, not \(driver)")
                }
            case "config":
                let configs = try walker.sequence(field.value, "\(what): ipam.config")
                guard configs.count <= 1 else {
                    throw walker.fail(
                        field.value, "\(what): ipam.config holds one subnet in Shoal, not \(configs.count)")
                }
                for config in configs {
                    for item in try walker.entries(config, "\(what): ipam.config entry") {
                        guard item.key == "subnet" else {
                            walker.unknown(item, in: "\(what): ipam.config")
                            continue
                        }
                        let text = try walker.string(item.value, "\(what): subnet")
                        guard let cidr = CIDR(text) else {
                            throw walker.fail(
                                item.value,
                                "\(what): subnet must be an IPv4 CIDR such as 10.0.9.0/24, not '\(text)'")
                        }
                        guard cidr.address == cidr.network else {
                            throw walker.fail(
                                item.value,
                                "\(what): subnet \(text) has host bits set; did you mean \(cidr.network)/\(cidr.prefixLength)?"
                            )
                        }
                        subnet = cidr
                    }
                }
            default: walker.unknown(field, in: "\(what): ipam")
            }
        }
        return subnet
    }
}
