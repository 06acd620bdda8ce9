import Foundation
import ShoalModel
import Testing

@testable import ShoalAgent

/// Issue 12: at 100,000 tasks a COMPLETE is a line of about 30 MB that the manager writes in parts
/// and TCP delivers in segments. The agent's reader takes it in one pass over the bytes and gives
/// back the line's buffer once the line is out.
@Suite struct FeedFollowerLargeLineTests {
    /// A COMPLETE of `count` endpoints, as the manager encodes it (sorted keys).
    static func complete(endpoints count: Int) throws -> [UInt8] {
        let objects = (0..<count).map { index in
            let address = IPv4Address(UInt32(0x0A00_0000 + index + 2))
            return FeedObject.endpoint(
                FeedEndpoint(
                    networkID: "net\(index % 63)", taskID: "task\(index)",
                    taskName: "web.\(index).task\(index)",
                    serviceID: "s\(index / 10)", serviceName: "web\(index / 10)", aliases: [],
                    address: address,
                    mac: MACAddress(derivedFrom: address), nodeID: "node\(index % 1000)",
                    nodeAddress: IPv4Address(UInt32(0xC0A8_0000 + index % 1000)), state: .up))
        }.sorted { $0.key < $1.key }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = Array(
            try encoder.encode(FeedMessage.complete(revision: 7, objects: objects, store: "5eed")))
        line.append(UInt8(ascii: "\n"))
        return line
    }

    @Test(.timeLimit(.minutes(2))) func aLargeCompleteInSmallSegmentsIsOneLineAndTheWholeView() throws {
        let count = 30_000
        let line = try Self.complete(endpoints: count)
        #expect(line.count > 7_000_000)
        let buffer = LineBuffer()
        var lines: [String] = []
        var segments = 0
        // TCP-sized segments, then a keep-alive right behind the COMPLETE in the last one.
        let keepalive =
            Array(#"{"revision":7,"store":"5eed","type":"keepalive"}"#.utf8) + [UInt8(ascii: "\n")]
        let stream = line + keepalive
        for start in stride(from: 0, to: stream.count, by: 1448) {
            lines += buffer.append(stream[start..<min(start + 1448, stream.count)])
            segments += 1
        }
        #expect(segments > 5_000)
        #expect(lines.count == 2)
        // The line's buffer was given back once the line was out.
        #expect(buffer.heldBytes < 1 << 20, "the reader still holds \(buffer.heldBytes) bytes")

        var follower = FeedFollower()
        #expect(follower.handle(line: lines[0]) == .changed(complete: true))
        #expect(follower.view.objects.count == count)
        #expect(follower.view.revision == 7)
        #expect(follower.handle(line: lines[1]) == .alive)
    }
}
