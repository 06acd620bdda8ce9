import ShoalModel
import Yams

/// `ports` and `expose` entries of a stack file.
enum PortParser {
    static func parse(_ node: YAMLNode, what: String, _ walker: inout YAMLWalker) throws(StackFileError)
        -> [PortConfig]
    {
        guard case .mapping = node else {
            let text = try walker.string(node, what)
            do throws(PortSyntax.Failure) {
                return try PortSyntax.short(text)
            } catch {
                throw walker.fail(node, "\(what): \(error.message)")
            }
        }
        var target: UInt16?
        var published: [UInt16]?
        var proto = PortProtocol.tcp
        var mode = PublishMode.ingress
        for field in try walker.entries(node, what) {
            let value = field.value
            switch field.key {
            case "target": target = try UInt16(walker.int(value, "\(what): target", range: 1...65535))
            case "published":
                let text = try walker.string(value, "\(what): published")
                do throws(PortSyntax.Failure) {
                    published = try PortSyntax.range(text, in: text)
                } catch {
                    throw walker.fail(value, "\(what): published: \(error.message)")
                }
            case "protocol":
                let text = try walker.string(value, "\(what): protocol")
                guard let parsed = PortProtocol(rawValue: text) else {
                    throw walker.fail(value, "\(what): protocol must be tcp or udp, not \(text)")
                }
                proto = parsed
            case "mode":
                let text = try walker.string(value, "\(what): mode")
                guard let parsed = PublishMode(rawValue: text) else {
                    throw walker.fail(value, "\(what): mode must be ingress or host, not \(text)")
                }
                mode = parsed
            case "host_ip", "name", "app_protocol":
                walker.warn(field.keyNode, "\(what): '\(field.key)' is not supported by Shoal and is ignored")
            default: walker.unknown(field, in: what)
            }
        }
        guard let target else { throw walker.fail(node, "\(what): target is required in the long syntax") }
        guard let published, published.count > 1 else {
            return [
                PortConfig(protocol: proto, target: target, published: published?.first, publishMode: mode)
            ]
        }
        throw walker.fail(node, "\(what): a published range needs a target range; use the short syntax")
    }

    /// `expose: ["3000", "8000-8010/udp"]`: checked only.
    static func exposed(_ node: YAMLNode, what: String, _ walker: inout YAMLWalker) throws(StackFileError)
        -> [PortConfig]
    {
        let text = try walker.string(node, what)
        guard !text.contains(":") else {
            throw walker.fail(node, "\(what): \(text) publishes nothing; write PORT[/PROTOCOL]")
        }
        do throws(PortSyntax.Failure) {
            return try PortSyntax.short(text)
        } catch {
            throw walker.fail(node, "\(what): \(error.message)")
        }
    }
}
