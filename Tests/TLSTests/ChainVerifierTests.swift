import COpenSSL
import FoundationEssentials
import TestSupport
import Testing
@testable import TLS

/// One world per test: a root, an intermediate under it, a CRL for each, files on disk.
final class ChainWorld: @unchecked Sendable {
    // @unchecked: built once in init, read afterwards.
    static let key2048 = TestKey.rsa(bits: 2048)
    let dir = TestPKI.directory("tls-tests")
    let root = TestPKI.ca("Test Root")
    let intermediate: TestCertificate
    let stranger = TestPKI.ca("Stranger Root")
    var revoked: [UInt64] = [1001]

    init() {
        intermediate = TestPKI.ca("Test Issuing CA", issuer: root)
    }

    deinit { dir.remove() }

    func leaf(_ name: String = "RSSMRA80A01H501U/1234567890123456.aaaa", serial: UInt64 = 7, issuer: TestCertificate? = nil,
              key: TestKey = ChainWorld.key2048, notBefore: Date = Date(timeIntervalSinceNow: -86_400),
              notAfter: Date = Date(timeIntervalSinceNow: 86_400 * 30), digest: String = "SHA256",
              extra: [(String, String)] = []) -> TestCertificate {
        TestPKI.client(name, issuer: issuer ?? intermediate, key: key, serial: serial, notBefore: notBefore, notAfter: notAfter,
                       digest: digest, extra: extra)
    }

    /// A trust store over root + intermediate with their CRLs (unless `crls` says otherwise).
    func store(crls: [[UInt8]]? = nil, revocation: RevocationPolicy = .require, legacy: [String] = [],
               extraCAs: [TestCertificate] = []) throws -> TrustStore {
        let bundle = dir.write("bundle-\(UInt32.random(in: 0...UInt32.max)).pem",
                               ([root, intermediate] + extraCAs).map(\.pem).joined())
        let lists = crls ?? [TestPKI.crl(issuer: root, revoked: []), TestPKI.crl(issuer: intermediate, revoked: revoked)]
        let paths = lists.enumerated().map { dir.write("crl-\(UInt32.random(in: 0...UInt32.max))-\($0.offset).der", $0.element) }
        return try TrustStore(TrustSources(caBundle: bundle, crls: paths, revocation: revocation, legacyIssuers: legacy))
    }
}

@Suite struct ReasonPriorityTests {
    /// The order the citizen's page relies on: what tells most first.
    @Test func priorityOrder() {
        let expected: [CertificateReason] = [.badSignature, .unknownIssuer, .malformedCertificate, .revoked, .expired, .notYetValid,
                                             .signatureCertificate, .weakLegacyKey, .revocationUnavailable, .noCertificate, .ok]
        #expect(CertificateReason.allCases.sorted { $0.priority < $1.priority } == expected)
        #expect(Set(CertificateReason.allCases.map(\.priority)).count == CertificateReason.allCases.count)
    }

    @Test func openSSLCodesMapToOurReasons() {
        #expect(CertificateReason.from(verifyError: X509_V_OK) == .ok)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) == .unknownIssuer)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) == .unknownIssuer)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CERT_HAS_EXPIRED) == .expired)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CERT_NOT_YET_VALID) == .notYetValid)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CERT_REVOKED) == .revoked)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_UNABLE_TO_GET_CRL) == .revocationUnavailable)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CRL_SIGNATURE_FAILURE) == .revocationUnavailable)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CERT_SIGNATURE_FAILURE) == .badSignature)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_EE_KEY_TOO_SMALL) == .weakLegacyKey)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_CA_MD_TOO_WEAK) == .weakLegacyKey)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_INVALID_PURPOSE) == .signatureCertificate)
        #expect(CertificateReason.from(verifyError: X509_V_ERR_UNSPECIFIED) == .malformedCertificate)
    }

    /// Several problems at once: the decisive one is the highest priority, whatever the order
    /// OpenSSL reported them in.
    @Test func decisiveErrorIsTheMostTelling() {
        let record = ChainVerifier.Record(revocation: .require)
        record.record(X509_V_ERR_UNABLE_TO_GET_CRL)
        record.record(X509_V_ERR_CERT_HAS_EXPIRED)
        record.record(X509_V_ERR_CERT_REVOKED)
        #expect(record.decisive == X509_V_ERR_CERT_REVOKED)
        let other = ChainVerifier.Record(revocation: .require)
        #expect(other.decisive == X509_V_OK)
    }
}

@Suite struct ChainVerifierTests {
    @Test func goodChainIsOK() throws {
        let world = ChainWorld()
        let store = try world.store()
        let verdict = store.verify(leafDER: world.leaf().der, intermediatesDER: [world.intermediate.der])
        #expect(verdict.reason == .ok, "\(verdict.opensslError)")
        // The intermediate is in the bundle too: the leaf alone verifies.
        #expect(store.verify(leafDER: world.leaf().der).reason == .ok)
    }

    @Test func unknownIssuer() throws {
        let world = ChainWorld()
        let store = try world.store()
        #expect(store.verify(leafDER: world.leaf(issuer: world.stranger).der).reason == .unknownIssuer)
        // A self-signed leaf.
        let selfSigned = TestPKI.certificate(CertificateSpec(subject: [("CN", "me")]), key: ChainWorld.key2048)
        #expect(store.verify(leafDER: selfSigned.der).reason == .unknownIssuer)
    }

    @Test func expiredAndNotYetValid() throws {
        let world = ChainWorld()
        let store = try world.store()
        let expired = world.leaf(notBefore: Date(timeIntervalSinceNow: -86_400 * 30), notAfter: Date(timeIntervalSinceNow: -86_400))
        #expect(store.verify(leafDER: expired.der).reason == .expired)
        let future = world.leaf(notBefore: Date(timeIntervalSinceNow: 86_400), notAfter: Date(timeIntervalSinceNow: 86_400 * 30))
        #expect(store.verify(leafDER: future.der).reason == .notYetValid)
    }

    @Test func revokedBeatsExpired() throws {
        let world = ChainWorld()
        let store = try world.store()
        #expect(store.verify(leafDER: world.leaf(serial: 1001).der).reason == .revoked)
        let both = world.leaf(serial: 1001, notBefore: Date(timeIntervalSinceNow: -86_400 * 30), notAfter: Date(timeIntervalSinceNow: -60))
        #expect(store.verify(leafDER: both.der).reason == .revoked)
    }

    @Test func revocationPolicies() throws {
        let world = ChainWorld()
        // No CRL for the issuing CA.
        let onlyRoot = [TestPKI.crl(issuer: world.root, revoked: [])]
        #expect(try world.store(crls: onlyRoot, revocation: .require).verify(leafDER: world.leaf().der).reason == .revocationUnavailable)
        #expect(try world.store(crls: onlyRoot, revocation: .bestEffort).verify(leafDER: world.leaf().der).reason == .ok)
        // A CRL past its nextUpdate.
        let stale = [TestPKI.crl(issuer: world.root, revoked: []),
                     TestPKI.crl(issuer: world.intermediate, revoked: [], lastUpdate: Date(timeIntervalSinceNow: -86_400 * 10),
                                 nextUpdate: Date(timeIntervalSinceNow: -86_400))]
        #expect(try world.store(crls: stale, revocation: .require).verify(leafDER: world.leaf().der).reason == .revocationUnavailable)
        // A stale CRL still revokes what it lists.
        #expect(try world.store(crls: [TestPKI.crl(issuer: world.root, revoked: []),
                                       TestPKI.crl(issuer: world.intermediate, revoked: [1001], lastUpdate: Date(timeIntervalSinceNow: -86_400 * 10),
                                                   nextUpdate: Date(timeIntervalSinceNow: -86_400))], revocation: .bestEffort)
                    .verify(leafDER: world.leaf(serial: 1001).der).reason == .revoked)
    }

    @Test func weakKeysAndDigestsOnlyUnderLegacyIssuers() throws {
        let world = ChainWorld()
        let weakKey = TestKey.rsa(bits: 1024)
        let store = try world.store()
        #expect(store.verify(leafDER: world.leaf(key: weakKey).der).reason == .weakLegacyKey)
        #expect(store.verify(leafDER: world.leaf(digest: "SHA1").der).reason == .weakLegacyKey)
        let legacy = try world.store(legacy: [world.intermediate.sha256Hex])
        #expect(legacy.verify(leafDER: world.leaf(key: weakKey).der).reason == .ok)
        #expect(legacy.verify(leafDER: world.leaf(digest: "SHA1").der).reason == .ok)
        // A legacy issuer does not make a 512-bit key acceptable.
        #expect(legacy.verify(leafDER: world.leaf(key: TestKey.rsa(bits: 512)).der).reason == .weakLegacyKey)
    }

    @Test func forgedSignature() throws {
        let world = ChainWorld()
        let store = try world.store()
        // Same issuer name, another key, no key identifiers that would tell them apart.
        let impostor = TestPKI.ca("Test Issuing CA", issuer: world.root, extra: [("authorityKeyIdentifier", "")])
        let forged = TestPKI.certificate(CertificateSpec(subject: [("CN", "forged")], extensions: [
            ("keyUsage", "critical,digitalSignature"), ("extendedKeyUsage", "clientAuth"), ("authorityKeyIdentifier", ""),
        ]), key: ChainWorld.key2048, issuer: impostor)
        #expect(store.verify(leafDER: forged.der).reason == .badSignature)
    }

    @Test func signatureCertificateAndGarbage() throws {
        let world = ChainWorld()
        let store = try world.store()
        let signing = TestPKI.certificate(CertificateSpec(subject: [("CN", "signing")], extensions: [
            ("keyUsage", "critical,nonRepudiation"), ("extendedKeyUsage", "emailProtection"),
        ]), key: ChainWorld.key2048, issuer: world.intermediate)
        #expect(store.verify(leafDER: signing.der).reason == .signatureCertificate)
        #expect(store.verify(leafDER: [0x30, 0x03, 0x02, 0x01, 0x00]).reason == .malformedCertificate)
    }

    @Test func bundleAndCRLFilesAreCheckedAtLoad() throws {
        let world = ChainWorld()
        // A CRL with a bundle CA's name but another key is refused, naming the file.
        let forgedCRL = TestPKI.crl(issuer: world.intermediate, revoked: [], signer: TestKey.rsa(bits: 2048))
        #expect(throws: TLSError(.crl, "")) { try world.store(crls: [forgedCRL]) }
        // A bundle holding a leaf is refused.
        let bundle = world.dir.write("leaf-bundle.pem", world.leaf().pem)
        #expect(throws: TLSError(.certificate, "")) {
            try TrustStore(TrustSources(caBundle: bundle, crls: [], revocation: .require, legacyIssuers: []))
        }
    }

    /// A CA renewed under the same name with a new key, both in the bundle, each with a CRL that
    /// carries no authorityKeyIdentifier: every card is checked against its own CA's CRL.
    @Test func sameNameCAsWithCRLsWithoutKeyIdentifiers() throws {
        let dir = TestPKI.directory("same-name")
        defer { dir.remove() }
        let old = TestPKI.ca("Regione Test - CA Cittadini")
        let renewed = TestPKI.ca("Regione Test - CA Cittadini")
        let bundle = dir.write("bundle.pem", old.pem + renewed.pem)
        let crls = [
            dir.write("old.crl", TestPKI.crl(issuer: old, revoked: [11], lastUpdate: Date(timeIntervalSinceNow: -7200), authorityKeyIdentifier: false)),
            dir.write("renewed.crl", TestPKI.crl(issuer: renewed, revoked: [12], lastUpdate: Date(timeIntervalSinceNow: -60), authorityKeyIdentifier: false)),
        ]
        let store = try TrustStore(TrustSources(caBundle: bundle, crls: crls, revocation: .require, legacyIssuers: []))
        for (ca, good, revoked) in [(old, UInt64(1), UInt64(11)), (renewed, 2, 12)] {
            #expect(store.verify(leafDER: TestPKI.client("ok", issuer: ca, key: ChainWorld.key2048, serial: good).der).reason == .ok)
            #expect(store.verify(leafDER: TestPKI.client("revoked", issuer: ca, key: ChainWorld.key2048, serial: revoked).der).reason == .revoked)
        }
    }

    /// A CRL whose entries are not in serial order: loaded, sorted for look-ups, and its
    /// signature still checks afterwards (a later load with a new CA of the same name checks
    /// the cached CRL again).
    @Test func crlWithEntriesOutOfOrderVerifiesBeforeAndAfterSorting() throws {
        let dir = TestPKI.directory("unsorted-crl")
        defer { dir.remove() }
        let ca = TestPKI.ca("Regione Disordinata - CA Cittadini")
        let crl = dir.write("unsorted.crl", TestPKI.crl(issuer: ca, revoked: [900, 100, 500, 300], sortedEntries: false))
        let first = try TrustStore(TrustSources(caBundle: dir.write("bundle.pem", ca.pem), crls: [crl], revocation: .require, legacyIssuers: []))
        for serial: UInt64 in [100, 300, 500, 900] {
            #expect(first.verify(leafDER: TestPKI.client("r", issuer: ca, key: ChainWorld.key2048, serial: serial).der).reason == .revoked)
        }
        #expect(first.verify(leafDER: TestPKI.client("ok", issuer: ca, key: ChainWorld.key2048, serial: 7).der).reason == .ok)
        // The reload reuses the parsed, sorted CRL and checks it against the new same-name CA.
        let renewed = TestPKI.ca("Regione Disordinata - CA Cittadini")
        let second = try TrustStore(TrustSources(caBundle: dir.write("bundle2.pem", ca.pem + renewed.pem), crls: [crl],
                                                 revocation: .require, legacyIssuers: []))
        #expect(second.verify(leafDER: TestPKI.client("r", issuer: ca, key: ChainWorld.key2048, serial: 500).der).reason == .revoked)
        #expect(second.verify(leafDER: TestPKI.client("ok", issuer: ca, key: ChainWorld.key2048, serial: 7).der).reason == .ok)
        let loaded = try CRLFileCache.shared.load(crl)
        let caObject = try #require(X509Certificate(der: ca.der))
        // Held compact (signed bytes and a sorted serial table): its signature checks over the
        // bytes as published, and the whole CRL OpenSSL would parse checks too.
        #expect(loaded.crls[0].isCompact)
        #expect(loaded.crls[0].verify(with: caObject))
        let whole = try #require(loaded.crls[0].whole())
        #expect(X509_CRL_verify(whole.pointer, X509_get0_pubkey(caObject.pointer)) == 1)
    }
}
