import Netlink
import Testing

/// Expects `body` to throw a NetlinkError that `predicate` accepts (e.g. `\.isNotFound`).
public func expectError(
    _ predicate: (NetlinkError) -> Bool, _ body: () async throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let error as NetlinkError {
        #expect(predicate(error), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}
