import FoundationEssentials
import HTTP1
import JSON
import TestSupport
import Testing
import TLS
@testable import Gateway

/// How the OCSP outcome and the CRL verdict make one, the client against a real socket, and the
/// router keeping the query off the loop.
@Suite struct OCSPClientTests {
    static let ok = CertificateVerdict(reason: .ok, opensslCode: X509VerifyCode.ok)

    static func answer(_ status: OCSPAnswer.Status, cached: Bool = false) -> OCSPOutcome {
        .answer(OCSPAnswer(status: status, thisUpdate: Date(), nextUpdate: Date(timeIntervalSinceNow: 3600)),
                responder: "http://ocsp.test/", cached: cached)
    }

    @Test func goodRevokedAndNoAnswerUnderEachMode() {
        var leafGap = CertificateVerdict(reason: .revocationUnavailable, opensslCode: 3)  // X509_V_ERR_UNABLE_TO_GET_CRL
        leafGap.crlGapAtLeaf = true
        for mode in [OCSPSettings.Mode.prefer, .require] {
            let good = OCSPJudgement.combine(Self.ok, Self.answer(.good), mode: mode)
            #expect(good.chain.reason == .ok && good.source == .ocsp)
            #expect(OCSPJudgement.combine(Self.ok, Self.answer(.good, cached: true), mode: mode).source == .cache)
            let revoked = OCSPJudgement.combine(Self.ok, Self.answer(.revoked(reason: 1, at: nil)), mode: mode)
            #expect(revoked.chain.reason == .revoked && revoked.source == .ocsp)
            // A good answer stands in for the card's missing CRL.
            #expect(OCSPJudgement.combine(leafGap, Self.answer(.good), mode: mode).chain.reason == .ok)
        }
        let failedStrict = OCSPJudgement.combine(Self.ok, .failed("down"), mode: .require)
        #expect(failedStrict.chain.reason == .revocationUnavailable && failedStrict.source == .ocsp && failedStrict.failure == "down")
        let failedLenient = OCSPJudgement.combine(Self.ok, .failed("down"), mode: .prefer)
        #expect(failedLenient.chain.reason == .ok && failedLenient.source == .crl && failedLenient.failure == "down")
        let unknownLenient = OCSPJudgement.combine(leafGap, Self.answer(.unknown), mode: .prefer)
        #expect(unknownLenient.chain.reason == .revocationUnavailable && unknownLenient.source == .crl)
        #expect(OCSPJudgement.combine(Self.ok, Self.answer(.unknown), mode: .require).chain.reason == .revocationUnavailable)
    }

    @Test func onlyAChainTheCRLWouldPassIsAskedAbout() {
        let on = OCSPSettings(mode: .require)
        #expect(OCSPJudgement.wanted(Self.ok, settings: on))
        #expect(!OCSPJudgement.wanted(Self.ok, settings: OCSPSettings()))
        for refused in [CertificateReason.revoked, .expired, .unknownIssuer, .badSignature, .weakLegacyKey] {
            #expect(!OCSPJudgement.wanted(CertificateVerdict(reason: refused, opensslCode: 1), settings: on))
        }
        var leafGap = CertificateVerdict(reason: .revocationUnavailable, opensslCode: 3)
        leafGap.crlGapAtLeaf = true
        #expect(OCSPJudgement.wanted(leafGap, settings: on))
        // The CA's own revocation in doubt: the card's responder cannot vouch for its CA.
        leafGap.crlGapAboveLeaf = true
        #expect(!OCSPJudgement.wanted(leafGap, settings: on))
        var accepted = Self.ok
        #expect(OCSPJudgement.crlSource(accepted) == .crl)
        accepted.crlGapAtLeaf = true
        #expect(OCSPJudgement.crlSource(accepted) == RevocationSource.none)
    }

    /// A CA, a card, and the question about it.
    struct Card {
        let ca = TestPKI.ca("OCSP Test CA")
        let leaf: TestCertificate
        let question: OCSPQuestion
        let dir = TestPKI.directory("ocsp-client")

        init() throws {
            leaf = TestPKI.client("card", issuer: ca, key: RouterWorld.cardKey)
            let store = try TrustStore(TrustSources(caBundle: dir.write("ca.pem", ca.pem), crls: [], revocation: .bestEffort, legacyIssuers: []))
            question = try #require(store.ocspQuestion(leafDER: leaf.der))
        }

        func response(_ status: TestPKI.OCSPStatus) -> [UInt8] {
            let body = TestPKI.ocspResponse(leaf: leaf, issuer: ca, status: status, signer: ca)
            return Array("HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        }
    }

    @Test func askingGetsTheCheckedAnswerByGETAndCachesIt() throws {
        let card = try Card()
        defer { card.dir.remove() }
        let server = try OneShotServer(response: card.response(.good))
        let settings = OCSPSettings(mode: .require, timeout: 3, responders: [card.question.issuerSHA256: "http://127.0.0.1:\(server.port)/ocsp"])
        let cache = OCSPCache()
        let outcome = OCSPClient.ask(card.question, settings: settings, cache: cache)
        guard case .answer(let answer, _, let cached) = outcome else { Issue.record("no answer: \(outcome)"); return }
        #expect(answer.status == .good && !cached)
        #expect(server.request.hasPrefix("GET /ocsp/\(card.question.getPathSegment!) HTTP/1.1\r\n"))
        #expect(cache.lookup(card.question, now: Date())?.0.status == .good)
        // Never past the answer's nextUpdate, nor past the cache bound.
        #expect(cache.lookup(card.question, now: Date(timeIntervalSinceNow: 3700)) == nil)
        let bounded = OCSPCache()
        bounded.remember(answer, responder: "r", for: card.question, maxCacheTime: 10, now: Date())
        #expect(bounded.lookup(card.question, now: Date(timeIntervalSinceNow: 20)) == nil)
    }

    @Test func unknownAndAnswersWithoutNextUpdateAreNotKept() throws {
        let card = try Card()
        defer { card.dir.remove() }
        let cache = OCSPCache()
        cache.remember(OCSPAnswer(status: .unknown, thisUpdate: Date(), nextUpdate: Date(timeIntervalSinceNow: 3600)),
                       responder: "r", for: card.question, maxCacheTime: 3600, now: Date())
        cache.remember(OCSPAnswer(status: .good, thisUpdate: Date(), nextUpdate: nil), responder: "r", for: card.question,
                       maxCacheTime: 3600, now: Date())
        cache.remember(OCSPAnswer(status: .revoked(reason: 6, at: nil), thisUpdate: Date(), nextUpdate: Date(timeIntervalSinceNow: 3600)),
                       responder: "r", for: card.question, maxCacheTime: 3600, now: Date())
        #expect(cache.count == 0)
    }

    @Test func aResponderThatNeverAnswersCostsTheTimeoutAndNoMore() throws {
        let card = try Card()
        defer { card.dir.remove() }
        let silent = try OneShotServer(response: nil)
        let settings = OCSPSettings(mode: .require, timeout: 0.5, responders: [card.question.issuerSHA256: "http://127.0.0.1:\(silent.port)/"])
        let started = Date()
        let outcome = OCSPClient.ask(card.question, settings: settings, cache: OCSPCache())
        let elapsed = Date().timeIntervalSince(started)
        guard case .failed(let why) = outcome else { Issue.record("an answer from nobody: \(outcome)"); return }
        #expect(why.contains("timed out"), "\(why)")
        #expect(elapsed >= 0.4 && elapsed < 1.5, "\(elapsed)")
    }

    @Test func noResponderIsAFailureNotAHang() throws {
        let card = try Card()
        defer { card.dir.remove() }
        guard case .failed(let why) = OCSPClient.ask(card.question, settings: OCSPSettings(mode: .require), cache: OCSPCache()) else {
            Issue.record("answered")
            return
        }
        #expect(why.contains("no OCSP responder"))
    }

    @Test func theRouterAsksOffTheLoopAndHandsTheVerdictBack() throws {
        // A responder that is not there: the query fails fast, and under require the card is refused.
        let world = try RouterWorld(trust: """
            ocsp = "require"
            ocsp_timeout = 1
            """)
        let context = world.context(card: world.card())
        var reported: [CardVerdict] = []
        guard case .deferred(let reason, let lane, let work) = world.router.route(world.request("GET", "/whoami"), context: context,
                                                                          cardEvaluated: { reported.append($0) }) else {
            Issue.record("an OCSP query answered on the loop thread")
            return
        }
        #expect(reason == nil && reported.isEmpty && lane == .login)
        let answer = work()
        let verdict = try #require(answer.cardVerdict)
        #expect(verdict.reason == "revocation_unavailable" && verdict.revocationSource == .ocsp)
        let body = try #require(JSONValue.decode(answer.response.body))
        #expect(body["verdict"]?["revocation_source"] == "ocsp")
        #expect(body["verdict"]?["ocsp_failure"]?.stringValue?.contains("no OCSP responder") == true)
        // The verdict is the connection's now: the next request is answered on the loop.
        guard case .response(_, let again) = world.router.route(world.request("GET", "/whoami"), context: context,
                                                                 cardEvaluated: { reported.append($0) }) else {
            Issue.record("asked twice on one connection")
            return
        }
        #expect(again == "revocation_unavailable" && reported.isEmpty)
    }
}
