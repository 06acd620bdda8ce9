import ShoalModel

extension Operations {
    /// Exposed ports name SRV records (`_<name>._<protocol>.<service>`): the name is one DNS label of
    /// letters, digits and '-' (RFC 6335 service names), and each (name, protocol) appears once.
    static func checkExposed(_ ports: [ExposedPort]) throws(StoreError) {
        var seen: Set<String> = []
        for (index, port) in ports.enumerated() {
            let field = "expose[\(index)]"
            let letters = port.name.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-")
            }
            guard (1...63).contains(port.name.utf8.count), letters, !port.name.hasPrefix("-"),
                !port.name.hasSuffix("-")
            else {
                throw .invalid(
                    field: "\(field).name",
                    reason: "must be 1 to 63 letters, digits and '-', not starting or ending with '-'")
            }
            if port.target == 0 { throw .invalid(field: "\(field).target", reason: "must be 1-65535") }
            let key = "\(port.name.lowercased())/\(port.protocol.rawValue)"
            guard seen.insert(key).inserted else {
                throw .invalid(
                    field: "\(field).name", reason: "\(port.name)/\(port.protocol.rawValue) is listed twice")
            }
        }
    }
}
