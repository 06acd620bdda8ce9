import ShoalModel

/// Port specifications as Docker writes them, shared by `--publish` and stack files.
enum PortSyntax {
    struct Failure: Error, Equatable {
        var message: String
    }

    /// Short syntax: `80`, `8080:80`, `8080:80/udp`, `8000-8002:9000-9002`. Ranges expand to one
    /// port each and must be the same length. A host IP is refused (the mesh listens on every address).
    static func short(_ text: String, mode: PublishMode = .ingress) throws(Failure) -> [PortConfig] {
        var body = Substring(text)
        var proto = PortProtocol.tcp
        if let slash = body.lastIndex(of: "/") {
            let name = body[body.index(after: slash)...]
            guard let parsed = PortProtocol(rawValue: String(name)) else {
                throw Failure(message: "\(text): protocol must be tcp or udp, not \(name)")
            }
            proto = parsed
            body = body[..<slash]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw Failure(message: "\(text): a host address is not supported; write PUBLISHED:TARGET")
        }
        let targets = try range(parts[parts.count - 1], in: text)
        guard parts.count == 2 else {
            return targets.map { PortConfig(protocol: proto, target: $0, publishMode: mode) }
        }
        let published = try range(parts[0], in: text)
        guard published.count == targets.count else {
            throw Failure(message: "\(text): the published and target ranges must have the same length")
        }
        return zip(published, targets).map {
            PortConfig(protocol: proto, target: $0.1, published: $0.0, publishMode: mode)
        }
    }

    /// `--publish`: short syntax, optionally with `mode=host`, or Docker's long form
    /// `published=8080,target=80,protocol=udp,mode=host`.
    static func flag(_ text: String) throws(Failure) -> [PortConfig] {
        var mode = PublishMode.ingress
        var shortForm: String?
        var target: UInt16?
        var published: UInt16?
        var proto = PortProtocol.tcp
        for item in text.split(separator: ",").map(String.init) {
            guard let equals = item.firstIndex(of: "=") else {
                guard shortForm == nil else {
                    throw Failure(message: "\(text): more than one PUBLISHED:TARGET")
                }
                shortForm = item
                continue
            }
            let key = item[..<equals]
            let value = String(item[item.index(after: equals)...])
            switch key {
            case "mode":
                guard let parsed = PublishMode(rawValue: value) else {
                    throw Failure(message: "\(text): mode must be ingress or host, not \(value)")
                }
                mode = parsed
            case "target": target = try port(value, in: text)
            case "published": published = try port(value, in: text)
            case "protocol":
                guard let parsed = PortProtocol(rawValue: value) else {
                    throw Failure(message: "\(text): protocol must be tcp or udp, not \(value)")
                }
                proto = parsed
            default:
                throw Failure(message: "\(text): unknown field \(key) (mode, target, published, protocol)")
            }
        }
        if let shortForm {
            guard target == nil, published == nil else {
                throw Failure(message: "\(text): give PUBLISHED:TARGET or target=/published=, not both")
            }
            return try short(shortForm, mode: mode)
        }
        guard let target else { throw Failure(message: "\(text): target= is required") }
        return [PortConfig(protocol: proto, target: target, published: published, publishMode: mode)]
    }

    static func port(_ text: some StringProtocol, in whole: String) throws(Failure) -> UInt16 {
        guard let value = UInt16(text), value > 0 else {
            throw Failure(message: "\(whole): \(text) is not a port number 1-65535")
        }
        return value
    }

    static func range(_ text: some StringProtocol, in whole: String) throws(Failure) -> [UInt16] {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count <= 2 else { throw Failure(message: "\(whole): \(text) is not a port or a range") }
        let low = try port(bounds[0], in: whole)
        let high = bounds.count == 2 ? try port(bounds[1], in: whole) : low
        guard low <= high else { throw Failure(message: "\(whole): the range \(text) runs backwards") }
        return Array(low...high)
    }
}
