import FoundationEssentials
import TestSupport
import Testing
import TLS
@testable import Gateway

/// A card judged under one trust generation is judged again under the next one: a keep-alive
/// connection cannot carry a verdict past the reload that revoked its card.
@Suite struct ConnectionCardTests {
    @Test func aReloadThatRevokesTheCardChangesTheVerdict() throws {
        let world = try RouterWorld()
        let card = world.card()
        let first = world.generation
        let connectionCard = ConnectionCard(chain: first.trust.verify(leafDER: card.der), presented: PresentedCertificates(leafDER: card.der),
                                            handshakeAt: Date(), generation: first.number)
        let (before, computed) = connectionCard.evaluate(under: first).settled
        #expect(before.reason == "ok" && computed)
        #expect(connectionCard.evaluate(under: first).settled.computed == false)

        // The next generation has a CRL for the card's CA that lists the card.
        let crl = world.dir.write("revoking.crl", TestPKI.crl(issuer: world.ca, revoked: [try serial(of: card)]))
        var config = first.config
        config.trust.crls = [crl]
        let second = try Generation(number: first.number + 1, config: config)
        let (after, recomputed) = connectionCard.evaluate(under: second).settled
        #expect(recomputed)
        #expect(after.reason == "revoked")
        #expect(after.identity != nil, "the identity is still read, only refused")
        #expect(connectionCard.evaluate(under: second).settled.verdict.reason == "revoked")
    }

    @Test func aCardWithoutCertificateStaysWithout() throws {
        let world = try RouterWorld()
        let card = ConnectionCard.none()
        #expect(card.evaluate(under: world.generation).settled.verdict.reason == "no_certificate")
    }

    private func serial(of card: TestCertificate) throws -> UInt64 {
        let peer = try #require(PeerCertificate(der: card.der))
        return try #require(UInt64(peer.serialHex, radix: 16))
    }
}
