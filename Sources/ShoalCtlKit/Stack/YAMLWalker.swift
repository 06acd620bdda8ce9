import Foundation
import Yams

/// Reads typed values out of a Yams node tree, with substitution, and turns every problem into a
/// `StackFileError` at the node's line and column, or a warning naming the line.
typealias YAMLNode = Yams.Node

struct YAMLWalker {
    let path: String
    let environment: [String: String]
    /// (line, text), in the order found; `sortedWarnings` orders them by line.
    var warnings: [(line: Int, text: String)] = []

    typealias Entry = (key: String, keyNode: Node, value: Node)

    func fail(_ node: Node, _ message: String) -> StackFileError {
        StackFileError(
            path: path, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, message: message)
    }

    mutating func warn(_ node: Node, _ message: String) {
        let line = node.mark?.line ?? 0
        warnings.append((line, "\(path):\(line): warning: \(message)"))
    }

    /// Warns about a key Shoal does not know in `context` (e.g. "service web").
    mutating func unknown(_ entry: Entry, in context: String) {
        // Compose extension fields (`x-...`) are meant to be ignored silently.
        if entry.key.hasPrefix("x-") { return }
        warn(entry.keyNode, "unknown key '\(entry.key)' in \(context) is ignored")
    }

    var sortedWarnings: [String] {
        warnings.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(
            \.element.text)
    }

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func entries(_ node: Node, _ what: String) throws(StackFileError) -> [Entry] {
        guard case .mapping(let mapping) = node else { throw fail(node, "\(what) must be a mapping") }
        var result: [Entry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                throw fail(key, "\(what) has a key that is not a string")
            }
            result.append((scalar.string, key, value))
        }
        return result
    }

    func string(_ node: Node, _ what: String) throws(StackFileError) -> String {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            throw fail(node, "\(what) must be a string")
        }
        do throws(Interpolation.Failure) {
            return try Interpolation.substitute(scalar.string, environment: environment)
        } catch {
            throw fail(node, "\(what): \(error.message)")
        }
    }

    func int(_ node: Node, _ what: String, range: ClosedRange<Int>) throws(StackFileError) -> Int {
        let text = try string(node, what)
        guard let value = Int(text) else { throw fail(node, "\(what) must be an integer, not '\(text)'") }
        guard range.contains(value) else {
            throw fail(
                node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    func bool(_ node: Node, _ what: String) throws(StackFileError) -> Bool {
        switch try string(node, what).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let text: throw fail(node, "\(what) must be true or false, not '\(text)'")
        }
    }

    func duration(_ node: Node, _ what: String) throws(StackFileError) -> Double {
        let text = try string(node, what)
        guard let seconds = DurationSyntax.seconds(text) else {
            throw fail(node, "\(what) must be a duration such as 10s, 1m30s or 500ms, not '\(text)'")
        }
        return seconds
    }

    func sequence(_ node: Node, _ what: String) throws(StackFileError) -> [Node] {
        guard case .sequence(let items) = node else { throw fail(node, "\(what) must be a list") }
        return Array(items)
    }

    func strings(_ node: Node, _ what: String) throws(StackFileError) -> [String] {
        var result: [String] = []
        for item in try sequence(node, what) { result.append(try string(item, "each entry of \(what)")) }
        return result
    }

    /// A command as a list, or a string split like a shell would (quotes, backslashes).
    func command(_ node: Node, _ what: String) throws(StackFileError) -> [String] {
        if case .sequence = node { return try strings(node, what) }
        let text = try string(node, what)
        guard let words = ShellWords.split(text) else { throw fail(node, "\(what) has an unclosed quote") }
        return words
    }

    /// `KEY: value` mappings or `KEY=value` lists (environment, labels).
    func keyValues(_ node: Node, _ what: String) throws(StackFileError) -> [(String, String?)] {
        if case .sequence = node {
            var result: [(String, String?)] = []
            for item in try sequence(node, what) {
                let text = try string(item, "each entry of \(what)")
                guard let equals = text.firstIndex(of: "=") else {
                    result.append((text, nil))
                    continue
                }
                guard equals != text.startIndex else {
                    throw fail(item, "\(what) entry '\(text)' has no name")
                }
                result.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            }
            return result
        }
        var result: [(String, String?)] = []
        for entry in try entries(node, what) {
            let value: String? = try isNull(entry.value) ? nil : string(entry.value, "\(what).\(entry.key)")
            result.append((entry.key, value))
        }
        return result
    }
}

/// Splits a command line into words the way a POSIX shell quotes them (no expansion).
enum ShellWords {
    static func split(_ text: String) -> [String]? {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" && quote != "'" {
                escaped = true
                inWord = true
            } else if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" || character == "\n" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if quote != nil || escaped { return nil }
        if inWord { words.append(current) }
        return words
    }
}
