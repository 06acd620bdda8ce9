import Foundation
import Glibc
import Netlink

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count,
        let value = Int(arguments[at + 1])
    else { return fallback }
    return value
}

func flag(_ name: String) -> Bool { CommandLine.arguments.contains(name) }

/// Runs a command, stdin from a file when given; fails on a non-zero exit.
@discardableResult
func run(_ arguments: [String], stdin: String? = nil, discardOutput: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let stdin { process.standardInput = FileHandle(forReadingAtPath: stdin) }
    let output = Pipe()
    process.standardOutput = discardOutput ? FileHandle.nullDevice : output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw BenchError(description: "\(arguments.joined(separator: " ")) failed: \(text.prefix(500))")
    }
    return text
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func format(_ value: Double) -> String { String(format: "%.4f", value) }

/// "min / median / max" of a series.
func spread(_ values: [Double]) -> String {
    "\(format(values.min() ?? 0)) / \(format(median(values))) / \(format(values.max() ?? 0)) s"
}

/// One line per measured thing: min/median/max, and the ratio of medians to the anchor.
func report(_ name: String, _ values: [Double], anchor: [Double]? = nil) {
    var line = "  \(name): min/median/max \(spread(values))"
    if let anchor { line += String(format: ", ratio %.3fx", median(values) / median(anchor)) }
    print(line)
}

/// A fresh namespace with br0 and vx0 (VNI 4096, dstport 4789, learning off) made by iproute2.
func freshOverlay(_ name: String) throws {
    try run(["ip", "netns", "add", name])
    try run(["ip", "-n", name, "link", "set", "lo", "up"])
    try run(["ip", "-n", name, "link", "add", "br0", "type", "bridge"])
    try run([
        "ip", "-n", name, "link", "add", "vx0", "type", "vxlan", "id", "4096", "dstport", "4789", "local",
        "10.200.0.1", "nolearning",
    ])
    try run(["ip", "-n", name, "link", "set", "vx0", "master", "br0", "up"])
    try run(["ip", "-n", name, "link", "set", "br0", "up"])
    try run(["ip", "-n", name, "addr", "add", "10.0.0.254/8", "dev", "br0"])
}

func deleteNamespace(_ name: String) {
    _ = try? run(["ip", "netns", "delete", name])
}

/// What `ip netns exec NS true` costs on its own (process start, setns, remounting /sys): the
/// part of an anchor's time that is not its work.
func netnsExecCost(runs: Int) throws -> [Double] {
    let name = "shb\(getpid())-exec"
    try run(["ip", "netns", "add", name])
    defer { deleteNamespace(name) }
    return try (0..<runs).map { _ in try seconds { try run(["ip", "netns", "exec", name, "true"]) } }
}

/// The order of the tools in run `round`: alternates, so neither always runs on a warm cache.
func order<T>(_ tools: [T], round: Int) -> [T] {
    round % 2 == 0 ? tools : tools.reversed()
}
