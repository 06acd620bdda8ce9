import Foundation
import NIOCore
import Testing

@testable import ShoalDNS

/// A short, bounded fuzz run in the suite: the corpus mutated by bit flips, cuts, splices, inserted
/// pointers and random bytes. Every input must either fail with a DNSError or read back the same
/// after a re-encode; the server must answer it with a well-formed message or drop it. A seed that
/// fails is printed so it can be replayed (SHOAL_DNS_FUZZ_SEED, SHOAL_DNS_FUZZ_RUNS for longer runs).
@Suite struct FuzzTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ input: [UInt8], _ other: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var bytes = input
        for _ in 0...Int.random(in: 0...3, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes = Array(bytes.prefix(at))
            case 2 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 3: bytes.insert(contentsOf: [0xC0, UInt8.random(in: 0...80, using: &rng)], at: at)
            case 4: bytes += other.suffix(Int.random(in: 0...other.count, using: &rng))
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            }
        }
        return bytes
    }

    @Test func mutatedCorpusNeverCrashesTheCodecOrTheServer() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SHOAL_DNS_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_130
        let runs = environment["SHOAL_DNS_FUZZ_RUNS"].flatMap(Int.init) ?? 30_000
        var rng = SplitMix(state: seed)
        let seeds = try corpus().sorted { $0.key < $1.key }.map(\.value)
        let processor = QueryProcessor(
            records: DNSRecordStore(DNSRecordTable(view: try labView())), forwarder: nil)
        var shuffle = ShuffleRNG()
        var parsed = 0
        for run in 0..<runs {
            let input = Self.mutate(
                seeds[run % seeds.count], seeds[Int.random(in: 0..<seeds.count, using: &rng)], &rng)
            if let message = try? DNSMessage(bytes: input) {
                parsed += 1
                let again = try DNSMessage(bytes: message.bytes)
                #expect(again == message, "seed \(seed) run \(run): \(input)")
            }
            let reply = processor.process(
                ByteBuffer(bytes: input), scope: .task("t-cf"), overUDP: true,
                allocator: ByteBufferAllocator(),
                rng: &shuffle, deliver: { _ in })
            if let reply {
                let message = try DNSMessage(bytes: reply)
                #expect(message.header.isResponse, "seed \(seed) run \(run)")
                #expect(reply.readableBytes <= DNSLimits.maxUDPSize, "seed \(seed) run \(run)")
            }
        }
        // The mutations must leave enough valid messages to reach the round trip.
        #expect(parsed > runs / 20)
    }
}
