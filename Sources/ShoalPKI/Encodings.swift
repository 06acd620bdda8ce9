/// Hex and base36 text for digests, serials and token parts.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum Base36 {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// Big-endian bytes as a base36 number, left-padded with zeros to `width` (like Swarm's tokens).
    static func encode(_ bytes: [UInt8], width: Int) -> String {
        var number = Array(bytes.drop(while: { $0 == 0 }))
        var digits: [UInt8] = []
        while !number.isEmpty {
            var remainder = 0
            var quotient: [UInt8] = []
            quotient.reserveCapacity(number.count)
            for byte in number {
                let accumulator = remainder * 256 + Int(byte)
                let digit = accumulator / 36
                remainder = accumulator % 36
                if !(quotient.isEmpty && digit == 0) {
                    quotient.append(UInt8(digit))
                }
            }
            digits.append(alphabet[remainder])
            number = quotient
        }
        while digits.count < width {
            digits.append(alphabet[0])
        }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    static func isValid(_ text: Substring, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { alphabet.contains($0) }
    }
}

/// Equality whose running time does not depend on where the inputs differ.
func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let a = Array(lhs.utf8)
    let b = Array(rhs.utf8)
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices {
        difference |= a[index] ^ b[index]
    }
    return difference == 0
}
