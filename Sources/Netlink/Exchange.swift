import Glibc

/// One request and its answers up to the kernel's ACK, matched by sequence number: replies to
/// earlier requests still queued (after a timeout or an aborted batch) are skipped, never taken
/// for this one's.
enum Exchange {
    /// Sends `request` with NLM_F_REQUEST|NLM_F_ACK and `sequence`; returns the data messages
    /// that answered it, or throws the errno the kernel answered.
    static func run(
        fd: Int32, _ request: [UInt8], sequence: UInt32, operation: @autoclosure () -> String
    ) throws(NetlinkError) -> [Dump.Message] {
        var request = request
        Pipeline.store(
            Pipeline.load16(request, 6) | Pipeline.requestFlag | Pipeline.ackFlag, in: &request, at: 6)
        Pipeline.store32(sequence, in: &request, at: 8)
        if let error = Socket.send(fd, request, operation: operation()) { throw error }
        let space = ReceiveSpace.current
        var messages: [Dump.Message] = []
        var failure: NetlinkError?
        var finished = false
        while !finished {
            let next = Datagrams.peekLength(fd)
            if next < 0 {
                if next == -Int(EINTR) { continue }
                throw .errno(Int32(-next), operation())
            }
            let segment = max(Dump.segment, (next + 4095) & ~4095)
            space.reserve(segment)
            let received = Datagrams.receive(fd, into: &space.bytes, segment: segment)
            if received.error == EINTR { continue }
            if received.error != 0 { throw .errno(received.error, operation()) }
            if received.truncated {
                throw .errno(EMSGSIZE, operation(), detail: "the reply was larger than the buffer")
            }
            Pipeline.forEachMessage(space.bytes, segments: received.segments) { type, flags, seq, payload in
                guard seq == sequence, !finished else { return }
                switch type {
                case Pipeline.errorType:
                    let (code, detail) = Pipeline.parseError(payload, flags: flags)
                    if code != 0 { failure = .errno(-code, operation(), detail: detail) }
                    finished = true
                case Pipeline.doneType:
                    break
                default:
                    messages.append(Dump.Message(type: type, payload: Array(payload)))
                }
            }
        }
        if let failure { throw failure }
        return messages
    }
}
