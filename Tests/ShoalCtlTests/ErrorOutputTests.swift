import Foundation
import Testing

/// Issue #13: the real `shoalctl` prints the usage after an argument error only, never after a
/// runtime error such as a manager that is not there.
@Suite struct ErrorOutputTests {
    /// Runs the built executable next to this test bundle; returns its exit status and stderr.
    static func shoalctl(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let path = bundle.appendingPathComponent("shoalctl").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "build shoalctl first: \(path)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ["HOME": NSTemporaryDirectory() + "shoalctl-home-\(getpid())"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test func aManagerThatIsNotThereGetsTheReasonAndNoUsage() throws {
        let socket = NSTemporaryDirectory() + "no-manager-\(getpid()).sock"
        let result = try Self.shoalctl(["node", "ls", "--socket", socket])
        #expect(result.status == 1)
        #expect(result.errors.contains("cannot connect to the manager"), "\(result.errors)")
        #expect(result.errors.contains("hint:"), "\(result.errors)")
        #expect(!result.errors.contains("Usage:"), "\(result.errors)")
    }

    @Test func anArgumentErrorStillGetsTheUsage() throws {
        let result = try Self.shoalctl(["node", "ls", "--no-such-flag"])
        #expect(result.status != 0)
        #expect(result.errors.contains("Unknown option '--no-such-flag'"), "\(result.errors)")
        #expect(result.errors.contains("Usage: shoalctl node ls"), "\(result.errors)")
    }
}
