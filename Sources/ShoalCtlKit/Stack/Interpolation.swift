/// Compose variable substitution in one scalar: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
/// empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (required), `$$` for `$`.
enum Interpolation {
    struct Failure: Error, Equatable {
        var message: String
    }

    static func substitute(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            guard let next = rest.first else {
                output += "$"
                break
            }
            if next == "$" {
                output += "$"
                rest = rest.dropFirst()
            } else if next == "{" {
                guard let close = rest.firstIndex(of: "}") else {
                    throw Failure(message: "\(text): '${' has no closing '}'")
                }
                let body = String(rest[rest.index(after: rest.startIndex)..<close])
                output += try expand(body, in: text, environment: environment)
                rest = rest[rest.index(after: close)...]
            } else if next == "_" || next.isLetter {
                let name = rest.prefix { $0 == "_" || $0.isLetter || $0.isNumber }
                output += environment[String(name)] ?? ""
                rest = rest.dropFirst(name.count)
            } else {
                throw Failure(message: "\(text): '$' must start $NAME, ${NAME} or $$ (a literal $)")
            }
        }
        return output + rest
    }

    private static func expand(_ body: String, in text: String, environment: [String: String]) throws(Failure)
        -> String
    {
        let name = body.prefix { $0 == "_" || $0.isLetter || $0.isNumber }
        guard !name.isEmpty, name.first?.isNumber == false else {
            throw Failure(message: "\(text): ${\(body)} does not start with a variable name")
        }
        let value = environment[String(name)]
        let modifier = body.dropFirst(name.count)
        if modifier.isEmpty { return value ?? "" }
        let emptyCounts = modifier.hasPrefix(":")
        let operation = modifier.dropFirst(emptyCounts ? 1 : 0)
        let missing = value == nil || (emptyCounts && value?.isEmpty == true)
        guard let symbol = operation.first, "-?+".contains(symbol) else {
            throw Failure(
                message: "\(text): ${\(body)}: use ${NAME:-default}, ${NAME-default} or ${NAME:?error}")
        }
        let argument = String(operation.dropFirst())
        switch symbol {
        case "-": return missing ? argument : (value ?? "")
        case "+": return missing ? "" : argument
        default:
            if missing {
                throw Failure(
                    message: "variable \(name) is required: \(argument.isEmpty ? "it is not set" : argument)")
            }
            return value ?? ""
        }
    }
}
