import Foundation
import Testing

@testable import ShoalPKI

@Suite struct JoinTokenTests {
    @Test func tokenHasTheShoalFormatAndRoundTrips() throws {
        let ca = try ClusterCA.create()
        let tokens = JoinTokens(caDigest: ca.digest)
        let text = tokens.worker.description
        let parts = text.split(separator: "-")
        #expect(parts.count == 4)
        #expect(parts[0] == "SHOAL" && parts[1] == "1")
        #expect(parts[2] == Substring(ca.digest) && parts[2].count == 50)
        #expect(parts[3].count == 25)
        #expect(try JoinToken(parsing: text) == tokens.worker)
        #expect(tokens.worker.secret != tokens.manager.secret)
    }

    @Test func digestIsBase36OfSHA256OfTheCACertificate() {
        // SHA-256 of the empty string, e3b0c442...b855, in base36 (checked with Python int(h, 16)).
        #expect(
            ClusterCA.digest(ofCertificateDER: [])
                == "5oaq0bjhj6un82wg98mgigso5q7qlhc63je4gw7ivixqqhkd3p")
    }

    @Test func eachTokenGrantsItsRole() throws {
        let tokens = JoinTokens(caDigest: try ClusterCA.create().digest)
        #expect(try tokens.verify(tokens.worker.description) == .worker)
        #expect(try tokens.verify(tokens.manager.description) == .manager)
    }

    @Test func wrongSecretIsRefused() throws {
        let tokens = JoinTokens(caDigest: try ClusterCA.create().digest)
        let forged = "SHOAL-1-\(tokens.worker.caDigest)-" + String(repeating: "a", count: 25)
        #expect(throws: JoinTokenError.wrongSecret) { try tokens.verify(forged) }
    }

    @Test func tokenOfAnotherClusterIsRefused() throws {
        let ours = JoinTokens(caDigest: try ClusterCA.create().digest)
        let theirs = JoinTokens(caDigest: try ClusterCA.create().digest)
        #expect(throws: JoinTokenError.otherCluster) { try ours.verify(theirs.worker.description) }
        // Even with our secret, a different CA digest is another cluster.
        let mixed = "SHOAL-1-\(theirs.worker.caDigest)-\(ours.worker.secret)"
        #expect(throws: JoinTokenError.otherCluster) { try ours.verify(mixed) }
    }

    @Test(arguments: [
        "", "SHOAL", "SWMTKN-1-abc-def", "SHOAL-1-abc", "SHOAL-1-a-b-c",
        "SHOAL-1-" + String(repeating: "0", count: 50) + "-short",
        "SHOAL-1-" + String(repeating: "0", count: 49) + "-" + String(repeating: "0", count: 25),
        "SHOAL-1-" + String(repeating: "A", count: 50) + "-" + String(repeating: "0", count: 25),
        "SHOAL-1-" + String(repeating: "0", count: 50) + "-" + String(repeating: "!", count: 25),
    ])
    func malformedTokensAreRefused(text: String) {
        #expect(throws: JoinTokenError.self) { try JoinToken(parsing: text) }
        do {
            _ = try JoinToken(parsing: text)
        } catch {
            guard case .malformed = error else {
                Issue.record("\(text): expected malformed, got \(error)")
                return
            }
        }
    }

    @Test func otherVersionIsRefused() {
        let text = "SHOAL-2-" + String(repeating: "0", count: 50) + "-" + String(repeating: "0", count: 25)
        #expect(throws: JoinTokenError.unsupportedVersion("2")) { try JoinToken(parsing: text) }
    }

    @Test func rotatedTokenStopsWorkingAndTheOtherRoleKeepsWorking() throws {
        let before = JoinTokens(caDigest: try ClusterCA.create().digest)
        let after = before.rotating(.worker)
        #expect(after.worker != before.worker)
        #expect(after.worker.caDigest == before.worker.caDigest)
        #expect(throws: JoinTokenError.wrongSecret) { try after.verify(before.worker.description) }
        #expect(try after.verify(after.worker.description) == .worker)
        #expect(try after.verify(before.manager.description) == .manager)
        let managerRotated = after.rotating(.manager)
        #expect(throws: JoinTokenError.wrongSecret) { try managerRotated.verify(after.manager.description) }
    }

    @Test func joiningNodePinsTheCAByTheTokenDigest() throws {
        let ca = try ClusterCA.create()
        let token = JoinTokens(caDigest: ca.digest).worker
        #expect(try token.pinCA(certificateDER: ca.certificateDER) == ca.certificate)
        // A manager (or man in the middle) presenting another CA is refused before anything is trusted.
        let impostor = try ClusterCA.create(clusterID: ca.clusterID)
        #expect(
            throws: JoinTokenError.caDigestMismatch(expected: ca.digest, actual: impostor.digest)
        ) { try token.pinCA(certificateDER: impostor.certificateDER) }
    }

    @Test func tokensPersistAsJSON() throws {
        let tokens = JoinTokens(caDigest: try ClusterCA.create().digest)
        let data = try JSONEncoder().encode(tokens)
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.contains(tokens.worker.description))
        #expect(try JSONDecoder().decode(JoinTokens.self, from: data) == tokens)
        let bad = Data(#"{"worker":"nope","manager":"nope"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(JoinTokens.self, from: bad) }
    }
}
