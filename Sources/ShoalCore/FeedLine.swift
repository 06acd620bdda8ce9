import Foundation
import ShoalModel

/// A feed message as it goes on the wire: one JSON line (sorted keys, so equal messages give equal bytes).
public enum FeedLine {
    public static func encode(_ message: FeedMessage) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(message))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
