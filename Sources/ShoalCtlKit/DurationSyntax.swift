/// Docker and Compose durations: `10s`, `1m30s`, `500ms`, `2h`, or a plain number of seconds.
enum DurationSyntax {
    static func seconds(_ text: String) -> Double? {
        if let seconds = Double(text) { return seconds >= 0 ? seconds : nil }
        let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("h", 3600), ("m", 60), ("s", 1)]
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(number.count)
            guard let value = Double(number), let unit = units.first(where: { rest.hasPrefix($0.0) }) else {
                return nil
            }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return total
    }
}
