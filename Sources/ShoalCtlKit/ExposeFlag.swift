import ShoalModel

extension ServiceFlags {
    /// `--expose NAME:PORT[/tcp|/udp]`: a named port reachable inside the service's networks,
    /// never published; DNS answers `_NAME._PROTO.<service>` SRV questions for it.
    static func exposed(_ values: [String]) throws(CtlError) -> [ExposedPort] {
        var ports: [ExposedPort] = []
        for value in values {
            let hint = "--expose http:8080, --expose dns:53/udp"
            let parts = value.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw CtlError("--expose \(value): expected NAME:PORT[/PROTOCOL]", hint: hint)
            }
            let portAndProtocol = parts[1].split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(portAndProtocol.count), let port = UInt16(portAndProtocol[0]), port > 0
            else {
                throw CtlError("--expose \(value): the port must be 1-65535", hint: hint)
            }
            var proto = PortProtocol.tcp
            if portAndProtocol.count == 2 {
                guard let parsed = PortProtocol(rawValue: String(portAndProtocol[1])) else {
                    throw CtlError("--expose \(value): the protocol must be tcp or udp", hint: hint)
                }
                proto = parsed
            }
            ports.append(ExposedPort(name: String(parts[0]), protocol: proto, target: port))
        }
        return ports
    }
}
