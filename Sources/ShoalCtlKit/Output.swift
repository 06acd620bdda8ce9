import ArgumentParser
import Foundation

public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json
}

/// `--format` and `--quiet` of the read commands.
struct OutputOptions: ParsableArguments {
    @Option(help: "table (default) or json: the API's objects, with the field names of docs/openapi.yaml.")
    var format: OutputFormat = .table

    @Flag(name: .shortAndLong, help: "Print only ids (names for stacks).")
    var quiet = false
}

enum Output {
    /// Pretty, key-sorted JSON: stable for scripts and `jq`.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Left-aligned columns, two spaces apart, as Docker prints them.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let last = index == cells.count - 1
                text += last ? cell : cell.padding(toLength: widths[index] + 3, withPad: " ", startingAt: 0)
            }
            return text
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// Prints a listing: ids with --quiet, JSON with --format json, else the table.
    static func list<T: Encodable>(
        _ items: [T], _ options: OutputOptions, id: (T) -> String, header: [String], row: (T) -> [String]
    ) throws {
        if options.quiet {
            for item in items { print(id(item)) }
        } else if options.format == .json {
            print(try json(items))
        } else {
            print(table(header, items.map(row)))
        }
    }
}
