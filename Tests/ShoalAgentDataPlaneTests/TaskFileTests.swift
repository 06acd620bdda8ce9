import Foundation
import Glibc
import Testing

@testable import ShoalAgent

/// A task start's files (resolv.conf, hosts, the process record), written without fsync: the
/// bytes land, a shorter rewrite leaves nothing of the longer one, and a path that cannot be
/// written gives an error with its errno and leaves nothing behind.
@Suite struct TaskFileTests {
    @Test func writesReplacesAndNamesTheErrno() throws {
        let directory =
            NSTemporaryDirectory() + "shoal-taskfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/hosts"
        try TaskFile.write("127.0.0.1 localhost\n10.0.0.2 web.1 web\n", to: file)
        #expect(
            try String(contentsOfFile: file, encoding: .utf8) == "127.0.0.1 localhost\n10.0.0.2 web.1 web\n")
        try TaskFile.write("nameserver 127.0.0.11\n", to: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "nameserver 127.0.0.11\n")
        let missing = directory + "/no-such-dir/resolv.conf"
        let error = #expect(throws: DataPlaneError.self) { try TaskFile.write("x", to: missing) }
        #expect(error?.errno == ENOENT)
        #expect(error?.description.contains(missing) == true)
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
