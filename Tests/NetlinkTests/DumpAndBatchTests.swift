import Foundation
import Glibc
import Testing

@testable import Netlink

/// The dump and batch readers against a fake kernel: a datagram socket pair whose far end
/// answers each request it receives with the next scripted group of datagrams.
@Suite struct DumpAndBatchTests {
    final class Requests: @unchecked Sendable {
        private let lock = NSLock()
        private var received: [[UInt8]] = []
        func append(_ request: [UInt8]) { lock.withLock { received.append(request) } }
        var all: [[UInt8]] { lock.withLock { received } }
    }

    final class FakeKernel: @unchecked Sendable {
        let near: Int32
        let far: Int32

        init() throws {
            var pair: [Int32] = [0, 0]
            try #require(socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &pair) == 0)
            near = pair[0]
            far = pair[1]
        }

        deinit {
            close(near)
            close(far)
        }

        typealias Message = (UInt16, UInt16, UInt32, [UInt8])
        /// A sequence number that stands for "the sequence of the request being answered".
        static let echo: UInt32 = 0xffff_ffff

        /// One datagram holding these messages (type, flags, sequence, payload).
        static func datagram(_ messages: [Message]) -> [UInt8] {
            var datagram: [UInt8] = []
            for (type, flags, sequence, payload) in messages {
                var message = [UInt8](repeating: 0, count: 16) + payload
                Pipeline.store32(UInt32(message.count), in: &message, at: 0)
                Pipeline.store(type, in: &message, at: 4)
                Pipeline.store(flags, in: &message, at: 6)
                Pipeline.store32(sequence, in: &message, at: 8)
                message += [UInt8](repeating: 0, count: (4 - message.count % 4) % 4)
                datagram += message
            }
            return datagram
        }

        /// For each request that arrives, sends the next group of datagrams; keeps the requests.
        func script(_ groups: [[[Message]]]) -> Requests {
            let requests = Requests()
            let far = far
            let thread = Thread {
                for group in groups {
                    var request = [UInt8](repeating: 0, count: 262_144)
                    let count = request.withUnsafeMutableBytes { recv(far, $0.baseAddress, $0.count, 0) }
                    if count <= 0 { return }
                    requests.append(Array(request.prefix(count)))
                    let sequence = count >= 12 ? Attributes.u32(request[8..<12]) ?? 0 : 0
                    for messages in group {
                        let bytes = FakeKernel.datagram(
                            messages.map { ($0.0, $0.1, $0.2 == FakeKernel.echo ? sequence : $0.2, $0.3) })
                        _ = bytes.withUnsafeBytes { send(far, $0.baseAddress, $0.count, 0) }
                    }
                }
            }
            thread.start()
            return requests
        }

        static func ack(_ code: Int32) -> [UInt8] {
            withUnsafeBytes(of: code.littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 16)
        }
    }

    typealias Message = FakeKernel.Message
    private var request: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 20)
        Pipeline.store32(20, in: &bytes, at: 0)
        return bytes
    }
    private let data: UInt16 = 0x30
    private let interrupted = Pipeline.dumpInterruptedFlag

    @Test func interruptedDumpIsReadAgainAndOnlyTheCleanCopyReturned() throws {
        let kernel = try FakeKernel()
        let requests = kernel.script([
            [
                [(data, interrupted, 7, [1]), (data, interrupted, 7, [2])],
                [(Pipeline.doneType, 0, 7, [0, 0, 0, 0])],
            ],
            [
                [(data, 0, 7, [1]), (data, 0, 7, [2]), (data, 0, 7, [3])],
                [(Pipeline.doneType, 0, 7, [0, 0, 0, 0])],
            ],
        ])
        var buffer: [UInt8] = []
        let messages = try Dump(fd: kernel.near).run(request, sequence: 7, operation: "dump", buffer: &buffer)
        #expect(messages.map { $0.payload.first } == [1, 2, 3])
        #expect(requests.all.count == 2)
        // Sent as a dump request: NLM_F_REQUEST | NLM_F_DUMP.
        #expect(requests.all.first.map { Pipeline.load16($0, 6) } == Pipeline.requestFlag | Pipeline.dumpFlag)
    }

    @Test func dumpThatKeepsChangingIsReportedNotReturnedHalfRead() throws {
        let kernel = try FakeKernel()
        let requests = kernel.script(
            [[[Message]]](
                repeating: [[(data, interrupted, 9, [1]), (Pipeline.doneType, 0, 9, [0, 0, 0, 0])]], count: 5)
        )
        var buffer: [UInt8] = []
        #expect {
            _ = try Dump(fd: kernel.near).run(request, sequence: 9, operation: "dump", buffer: &buffer)
        } throws: { error in
            (error as? NetlinkError)?.isDumpInterrupted == true
        }
        #expect(requests.all.count == 5)
    }

    @Test func dumpErrorCarriesTheKernelCode() throws {
        let kernel = try FakeKernel()
        _ = kernel.script([[[(Pipeline.errorType, 0, 3, FakeKernel.ack(-ESRCH))]]])
        var buffer: [UInt8] = []
        #expect {
            _ = try Dump(fd: kernel.near).run(request, sequence: 3, operation: "dump", buffer: &buffer)
        } throws: { error in
            (error as? NetlinkError)?.isNotFound == true
        }
    }

    @Test func batchReportsEachFailureAgainstItsOwnRequest() throws {
        let kernel = try FakeKernel()
        // ACKs arrive one per datagram, as from the kernel, and not in request order.
        let requests = kernel.script([
            [
                [(Pipeline.errorType, 0, 102, FakeKernel.ack(0))],
                [(Pipeline.errorType, 0, 100, FakeKernel.ack(0))],
                [(Pipeline.errorType, 0, 101, FakeKernel.ack(-EEXIST))],
                [(Pipeline.errorType, 0, 103, FakeKernel.ack(-ENOENT))],
            ]
        ])
        var message = [UInt8](repeating: 0, count: 20)
        Pipeline.store32(20, in: &message, at: 0)
        let results = Pipeline(fd: kernel.near).run(
            [[UInt8]](repeating: message, count: 4), firstSequence: 100
        ) { "request \($0)" }
        #expect(results.count == 4)
        #expect(results[0] == nil)
        #expect(results[1]?.isAlreadyExists == true)
        #expect(results[1]?.operation == "request 1")
        #expect(results[2] == nil)
        #expect(results[3]?.isNotFound == true)
        // The requests went out in one datagram, each with NLM_F_REQUEST|NLM_F_ACK and its sequence.
        let sent = try #require(requests.all.first)
        let count = sent.count
        #expect(count == 80)
        var sequences: [UInt32] = []
        Pipeline.forEachMessage(sent, count: count) { _, flags, sequence, _ in
            #expect(
                flags & (Pipeline.requestFlag | Pipeline.ackFlag) == Pipeline.requestFlag | Pipeline.ackFlag)
            sequences.append(sequence)
        }
        #expect(sequences == [100, 101, 102, 103])
    }
}
