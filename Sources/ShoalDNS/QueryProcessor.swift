import NIOCore

/// Turns one request into an answer: the part of the server shared by UDP and TCP listeners.
struct QueryProcessor: Sendable {
    let records: DNSRecordStore
    let forwarder: DNSForwarder?

    /// Returns the answer when it is known now; nil when the request is dropped or forwarded (the
    /// forwarder then calls `deliver`, from its own event loop). `limit` is the client's UDP limit,
    /// nil over TCP.
    func process(
        _ request: ByteBuffer, scope: DNSScope, overUDP: Bool, allocator: ByteBufferAllocator,
        rng: inout ShuffleRNG, deliver: @escaping @Sendable (ByteBuffer) -> Void
    ) -> ByteBuffer? {
        let query: DNSQuery
        switch DNSQuery.parse(request) {
        case .success(let parsed): query = parsed
        case .failure(.drop): return nil
        case .failure(.reply(let id, let flags, let rcode)):
            return AnswerWriter.error(
                id: id, flags: flags, rcode: rcode, query: nil, request: request, allocator: allocator)
        }
        let limit = overUDP ? query.udpLimit : nil
        let decision = records.read { LocalResolver.decide(query, table: $0, scope: scope, rng: &rng) }
        switch decision {
        case .answer(let answers, let ttl):
            return AnswerWriter.answer(
                query: query, request: request, rcode: .noError, records: answers, ttl: ttl, nodata: false,
                limit: limit, allocator: allocator)
        case .nodata:
            return AnswerWriter.answer(
                query: query, request: request, rcode: .noError, records: [], ttl: 0, nodata: true,
                limit: limit,
                allocator: allocator)
        case .forward:
            guard let forwarder else {
                // No upstream: Shoal does not recurse itself.
                return AnswerWriter.error(
                    id: query.id, flags: query.flags, rcode: .refused, query: query, request: request,
                    allocator: allocator)
            }
            forwarder.forward(request: request, query: query, limit: limit, deliver: deliver)
            return nil
        }
    }
}
