import COpenSSL
import FoundationEssentials
import TestSupport
import Testing
@testable import TLS

/// The OCSP question built from a chain and every check on a responder's answer, against
/// responses OpenSSL signs here: the CA's own, a delegated responder's, and the ones a
/// verifier must refuse.
@Suite struct OCSPTests {
    let world = ChainWorld()

    func question(_ leaf: TestCertificate, intermediates: [TestCertificate] = []) throws -> OCSPQuestion {
        try #require(try world.store().ocspQuestion(leafDER: leaf.der, intermediatesDER: intermediates.map(\.der)))
    }

    /// A responder certificate `issuer` issued, for OCSP signing unless `usage` says otherwise.
    func responder(_ name: String, issuer: TestCertificate, usage: String = "OCSPSigning",
                   notBefore: Date = Date(timeIntervalSinceNow: -86_400), notAfter: Date = Date(timeIntervalSinceNow: 86_400 * 30)) -> TestCertificate {
        TestPKI.certificate(CertificateSpec(subject: [("C", "IT"), ("CN", name)], notBefore: notBefore, notAfter: notAfter,
                                            extensions: [("keyUsage", "critical,digitalSignature"), ("extendedKeyUsage", usage)]),
                            key: .rsa(), issuer: issuer)
    }

    @Test func theCASignedAnswerSaysGoodRevokedOrUnknown() throws {
        let leaf = world.leaf(serial: 4242)
        let question = try question(leaf)
        for (status, expected) in [(TestPKI.OCSPStatus.good, "good"), (.revoked, "revoked"), (.unknown, "unknown")] {
            let response = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: status, signer: world.intermediate)
            #expect(try question.check(responseDER: response).statusName == expected)
        }
        let revoked = try question.check(responseDER: TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .revoked,
                                                                            signer: world.intermediate))
        guard case .revoked(let reason, let at) = revoked.status else { Issue.record("not revoked"); return }
        #expect(reason == 1)  // keyCompromise
        #expect(at != nil)
    }

    @Test func aResponderTheCAAuthorisedForOCSPSigningIsBelieved() throws {
        let leaf = world.leaf(serial: 77)
        let responder = responder("OCSP responder", issuer: world.intermediate)
        let response = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: responder)
        #expect(try question(leaf).check(responseDER: response).status == .good)
    }

    @Test func aResponderWithoutOCSPSigningIsRefused() throws {
        let leaf = world.leaf(serial: 78)
        // Issued by the right CA, but for client authentication only.
        let impostor = responder("not a responder", issuer: world.intermediate, usage: "clientAuth")
        let response = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: impostor)
        #expect(throws: OCSPError(.signature, "")) { try question(leaf).check(responseDER: response) }
    }

    @Test func anUnrelatedKeyOrAnotherCAsResponderIsRefused() throws {
        let leaf = world.leaf(serial: 79)
        let question = try question(leaf)
        // A self-signed certificate with the issuing CA's very name, another key.
        let lookalike = TestPKI.ca("Test Issuing CA")
        let forged = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: lookalike)
        #expect(throws: OCSPError(.signature, "")) { try question.check(responseDER: forged) }
        // A real responder, authorised by the root: not by the CA that issued the card.
        let rootResponder = responder("root's responder", issuer: world.root)
        let elsewhere = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: rootResponder)
        #expect(throws: OCSPError(.signature, "")) { try question.check(responseDER: elsewhere) }
        // The root itself, which did not issue the card.
        let byRoot = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: world.root)
        #expect(throws: OCSPError(.signature, "")) { try question.check(responseDER: byRoot) }
    }

    @Test func anExpiredDelegatedResponderIsRefused() throws {
        let leaf = world.leaf(serial: 80)
        let expired = responder("old responder", issuer: world.intermediate,
                                notBefore: Date(timeIntervalSinceNow: -86_400 * 60), notAfter: Date(timeIntervalSinceNow: -86_400))
        let response = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: expired)
        #expect(throws: OCSPError(.signature, "")) { try question(leaf).check(responseDER: response) }
    }

    @Test func anAnswerAboutAnotherSerialIsRefused() throws {
        let leaf = world.leaf(serial: 81)
        let response = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: world.intermediate, serial: 82)
        #expect(throws: OCSPError(.wrongCertificate, "")) { try question(leaf).check(responseDER: response) }
    }

    @Test func staleAndFutureAnswersAreRefusedWithinTheClockSkew() throws {
        let leaf = world.leaf(serial: 83)
        let question = try question(leaf)
        let now = Date()
        func response(this: TimeInterval, next: TimeInterval?) -> [UInt8] {
            TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: world.intermediate,
                                 thisUpdate: now.addingTimeInterval(this), nextUpdate: next.map { now.addingTimeInterval($0) })
        }
        // Past its nextUpdate by more than the skew.
        #expect(throws: OCSPError(.stale, "")) { try question.check(responseDER: response(this: -7200, next: -600), now: now, skew: 300) }
        // Past it by less: a clock a little behind the responder's.
        #expect(try question.check(responseDER: response(this: -7200, next: -100), now: now, skew: 300).status == .good)
        // Produced in the future.
        #expect(throws: OCSPError(.stale, "")) { try question.check(responseDER: response(this: 900, next: 4000), now: now, skew: 300) }
        #expect(try question.check(responseDER: response(this: 100, next: 4000), now: now, skew: 300).status == .good)
        // No nextUpdate: thisUpdate must be recent.
        #expect(throws: OCSPError(.stale, "")) {
            try question.check(responseDER: response(this: -10_000, next: nil), now: now, skew: 300, maxAgeWithoutNextUpdate: 3600)
        }
        let recent = try question.check(responseDER: response(this: -60, next: nil), now: now, skew: 300, maxAgeWithoutNextUpdate: 3600)
        #expect(recent.nextUpdate == nil)
    }

    @Test func errorStatusesAndGarbageAreNotAnswers() throws {
        let leaf = world.leaf(serial: 84)
        let question = try question(leaf)
        #expect(throws: OCSPError(.responderStatus, "")) {
            try question.check(responseDER: TestPKI.ocspErrorResponse(status: OCSP_RESPONSE_STATUS_TRYLATER))
        }
        #expect(throws: OCSPError(.responderStatus, "")) {
            try question.check(responseDER: TestPKI.ocspErrorResponse(status: OCSP_RESPONSE_STATUS_UNAUTHORIZED))
        }
        #expect(throws: OCSPError(.malformed, "")) { try question.check(responseDER: Array("<html>busy</html>".utf8)) }
        #expect(throws: OCSPError(.malformed, "")) { try question.check(responseDER: []) }
        // A good response cut short.
        let good = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: world.intermediate)
        #expect(throws: OCSPError(.malformed, "")) { try question.check(responseDER: Array(good.prefix(good.count / 2))) }
    }

    @Test func theQuestionNamesTheIssuerWhoseKeySignedTheCard() throws {
        // Two CAs with one name and two keys, both in the bundle: the card of the second is
        // asked about with the second's key hash, and its answer verified with that CA.
        let renewed = TestPKI.ca("Test Issuing CA", issuer: world.root)
        let store = try world.store(extraCAs: [renewed])
        let leaf = world.leaf(serial: 90, issuer: renewed)
        let question = try #require(store.ocspQuestion(leafDER: leaf.der))
        #expect(question.issuerSHA256 == renewed.sha256Hex)
        #expect(question.serialHex == "5A")
        let good = TestPKI.ocspResponse(leaf: leaf, issuer: renewed, status: .good, signer: renewed)
        #expect(try question.check(responseDER: good).status == .good)
        // The other CA of that name cannot answer for this card.
        let wrongCA = TestPKI.ocspResponse(leaf: leaf, issuer: world.intermediate, status: .good, signer: world.intermediate)
        #expect(throws: OCSPError.self) { try question.check(responseDER: wrongCA) }
        // A card from a CA nobody trusts has no question.
        let stranger = world.leaf(serial: 91, issuer: world.stranger)
        #expect(store.ocspQuestion(leafDER: stranger.der) == nil)
        // The client's own intermediates are candidates too.
        let sent = TestPKI.ca("Sent Issuing CA", issuer: world.root)
        let sentLeaf = world.leaf(serial: 92, issuer: sent)
        #expect(store.ocspQuestion(leafDER: sentLeaf.der) == nil)
        #expect(store.ocspQuestion(leafDER: sentLeaf.der, intermediatesDER: [sent.der])?.issuerSHA256 == sent.sha256Hex)
    }

    @Test func theResponderComesFromTheAuthorityInformationAccessHTTPOnly() throws {
        let leaf = world.leaf(serial: 93, extra: [("authorityInfoAccess",
                                                   "OCSP;URI:https://secure.example.invalid/ocsp,OCSP;URI:http://ocsp.example.invalid/,caIssuers;URI:http://ca.example.invalid/ca.cer")])
        #expect(try question(leaf).responders == ["http://ocsp.example.invalid/"])
        #expect(try question(world.leaf(serial: 94)).responders.isEmpty)
    }

    @Test func theGETFormIsBase64URLEscaped() throws {
        let question = try question(world.leaf(serial: 95))
        let segment = try #require(question.getPathSegment)
        #expect(!segment.contains("/") && !segment.contains("+") && !segment.contains("="))
        let unescaped = segment.replacing("%2B", with: "+").replacing("%2F", with: "/").replacing("%3D", with: "=")
        #expect(Data(base64Encoded: unescaped).map { [UInt8]($0) } == question.requestDER)
    }
}
