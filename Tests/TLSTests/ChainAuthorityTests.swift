import FoundationEssentials
import TestSupport
import Testing
@testable import TLS

/// `CertificateVerdict.authority`: the CA of the trust store a chain was built to, the only
/// name a metric label may carry (issue 15, item 1).
@Suite struct ChainAuthorityTests {
    private func subject(_ cert: TestCertificate) -> String? { PeerCertificate(der: cert.der)?.subject }

    /// A store holding `cas` only, best-effort revocation (no CRLs).
    private func store(_ world: ChainWorld, _ cas: [TestCertificate]) throws -> TrustStore {
        let bundle = world.dir.write("bundle-\(UInt32.random(in: 0...UInt32.max)).pem", cas.map(\.pem).joined())
        return try TrustStore(TrustSources(caBundle: bundle, crls: [], revocation: .bestEffort, legacyIssuers: []))
    }

    @Test func theNearestBundleCA() throws {
        let world = ChainWorld()
        // The issuing CA is in the bundle: it is the authority, even when the client sends it too.
        let full = try store(world, [world.root, world.intermediate])
        let sent = full.verify(leafDER: world.leaf().der, intermediatesDER: [world.intermediate.der])
        #expect(sent.reason == .ok)
        #expect(sent.authority == subject(world.intermediate))
        #expect(full.verify(leafDER: world.leaf().der).authority == subject(world.intermediate))
        // Only the root is: the intermediate the client sends is not a CA of the bundle.
        let rootOnly = try store(world, [world.root])
        let viaRoot = rootOnly.verify(leafDER: world.leaf().der, intermediatesDER: [world.intermediate.der])
        #expect(viaRoot.reason == .ok)
        #expect(viaRoot.authority == subject(world.root))
    }

    @Test func noneForAChainThatReachesNoBundleCA() throws {
        let world = ChainWorld()
        let store = try store(world, [world.root, world.intermediate])
        let stranger = store.verify(leafDER: world.leaf(issuer: world.stranger).der)
        #expect(stranger.reason == .unknownIssuer && stranger.authority == nil)
        let selfSigned = TestPKI.certificate(CertificateSpec(subject: [("CN", "Chosen By The Client")]), key: ChainWorld.key2048)
        let own = store.verify(leafDER: selfSigned.der)
        #expect(own.reason == .unknownIssuer && own.authority == nil)
        #expect(CertificateVerdict.noCertificate.authority == nil)
    }

    /// A forged intermediate (a name of the forger's choosing) claiming the real root: the chain
    /// reaches the root and fails its signature there. The leaf's issuer is the forger's name;
    /// the authority is the root's.
    @Test func aForgedIntermediateCountsUnderTheRootItClaims() throws {
        let world = ChainWorld()
        let impostor = TestPKI.ca("Test Root")  // the root's name, another key
        let forged = TestPKI.ca("Anything The Forger Likes", issuer: impostor, extra: [("authorityKeyIdentifier", "")])
        let leaf = world.leaf(issuer: forged)
        let verdict = try store(world, [world.root]).verify(leafDER: leaf.der, intermediatesDER: [forged.der])
        #expect(verdict.reason == .badSignature, "\(verdict.opensslError)")
        #expect(verdict.authority == subject(world.root))
        #expect(PeerCertificate(der: leaf.der)?.issuer == subject(forged))
    }
}
