import COpenSSL
import COpenSSLShims
import FoundationEssentials
import TestSupport
import Testing

/// TrustedCRLs.c, driven directly through OpenSSL: a CRL recorded as verified at load skips the
/// signature check only for the exact (CRL, CA certificate) pair it was recorded with; any
/// other CRL or CA goes through OpenSSL's own check_crl.
@Suite struct TrustedCRLTests {
    final class Objects {
        var certificates: [OpaquePointer] = []
        var crls: [OpaquePointer] = []
        deinit {
            certificates.forEach { X509_free($0) }
            crls.forEach { X509_CRL_free($0) }
        }

        func certificate(_ der: [UInt8]) -> OpaquePointer {
            let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            }
            certificates.append(parsed!)
            return parsed!
        }

        func crl(_ der: [UInt8]) -> OpaquePointer {
            let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509_CRL(nil, &cursor, buffer.count)
            }
            crls.append(parsed!)
            return parsed!
        }
    }

    /// The first error OpenSSL reports for `leaf` against a store with `cas` and `crls`, with
    /// the (CRL, CA) pairs in `verified` recorded as checked at load.
    static func firstError(leaf: OpaquePointer, cas: [OpaquePointer], crls: [OpaquePointer],
                           verified: [(OpaquePointer, OpaquePointer)]) -> Int32 {
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        for ca in cas { X509_STORE_add_cert(store, ca) }
        for crl in crls { X509_STORE_add_crl(store, crl) }
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        for (crl, ca) in verified { #expect(CNSCRL_store_add_verified(store, crl, ca) == 1) }
        #expect(CNSCRL_store_use_verified_crls(store) == 1)
        let ctx = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(ctx) }
        #expect(X509_STORE_CTX_init(ctx, store, leaf, nil) == 1)
        _ = X509_verify_cert(ctx)
        ERR_clear_error()
        return X509_STORE_CTX_get_error(ctx)
    }

    /// The CRL with its signature's last byte flipped: still well-formed DER, no longer signed.
    static func mutated(_ der: [UInt8]) -> [UInt8] {
        var copy = der
        copy[copy.count - 1] ^= 0x01
        return copy
    }

    static let caKey = TestKey.rsa(bits: 2048)
    static let otherCAKey = TestKey.rsa(bits: 2048)
    static let leafKey = TestKey.rsa(bits: 2048)

    /// Two self-signed CAs with the same name and different keys (a CA renewed with a new key),
    /// a leaf of each (its authorityKeyIdentifier tells OpenSSL which CA issued it), and a CRL
    /// without authorityKeyIdentifier by the first, so a look-up by name finds it for both.
    struct SameName {
        let caA = TestPKI.ca("Regione Test - CA Cittadini", key: TrustedCRLTests.caKey)
        let caB = TestPKI.ca("Regione Test - CA Cittadini", key: TrustedCRLTests.otherCAKey)
        var leafA: TestCertificate { TestPKI.client("a", issuer: caA, key: TrustedCRLTests.leafKey) }
        var leafB: TestCertificate { TestPKI.client("b", issuer: caB, key: TrustedCRLTests.leafKey) }
        var crlA: [UInt8] { TestPKI.crl(issuer: caA, revoked: [], authorityKeyIdentifier: false) }
    }

    @Test func aRecordedPairSkipsTheSignatureCheck() {
        let world = SameName()
        let objects = Objects()
        let ca = objects.certificate(world.caA.der)
        let leaf = objects.certificate(world.leafA.der)
        let unsigned = objects.crl(Self.mutated(world.crlA))
        // Recorded as verified with this very CA: the signature is not looked at again.
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [unsigned], verified: [(unsigned, ca)]) == X509_V_OK)
        // Not recorded: OpenSSL checks the signature and finds it broken.
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [unsigned], verified: []) == X509_V_ERR_CRL_SIGNATURE_FAILURE)
    }

    @Test func aMutatedCopyOfARecordedCRLIsCheckedByOpenSSL() {
        let world = SameName()
        let objects = Objects()
        let ca = objects.certificate(world.caA.der)
        let leaf = objects.certificate(world.leafA.der)
        let good = objects.crl(world.crlA)
        let mutated = objects.crl(Self.mutated(world.crlA))
        // The store serves the mutated copy; only the good one was recorded.
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [mutated], verified: [(good, ca)]) == X509_V_ERR_CRL_SIGNATURE_FAILURE)
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [good], verified: [(good, ca)]) == X509_V_OK)
    }

    @Test func anotherCAWithTheSameNameNeverUsesTheFirstOnesCRL() {
        let world = SameName()
        let objects = Objects()
        let caA = objects.certificate(world.caA.der)
        let caB = objects.certificate(world.caB.der)
        let leafA = objects.certificate(world.leafA.der)
        let leafB = objects.certificate(world.leafB.der)
        let unsigned = objects.crl(Self.mutated(world.crlA))
        // Recorded for A. B has the same name, so OpenSSL's look-up by name finds the same CRL
        // for B's leaf; it is A's, so B is offered no CRL at all.
        #expect(Self.firstError(leaf: leafA, cas: [caA, caB], crls: [unsigned], verified: [(unsigned, caA)]) == X509_V_OK)
        #expect(Self.firstError(leaf: leafB, cas: [caA, caB], crls: [unsigned], verified: [(unsigned, caA)])
                == X509_V_ERR_UNABLE_TO_GET_CRL)
        // A same-name CRL recorded for nobody goes through OpenSSL's own check, with B's key.
        #expect(Self.firstError(leaf: leafB, cas: [caA, caB], crls: [unsigned], verified: [])
                == X509_V_ERR_CRL_SIGNATURE_FAILURE)
    }

    @Test func theValidityPeriodIsStillChecked() {
        let world = SameName()
        let objects = Objects()
        let ca = objects.certificate(world.caA.der)
        let leaf = objects.certificate(world.leafA.der)
        let stale = objects.crl(TestPKI.crl(issuer: world.caA, revoked: [], lastUpdate: Date(timeIntervalSinceNow: -86_400 * 3),
                                            nextUpdate: Date(timeIntervalSinceNow: -86_400), authorityKeyIdentifier: false))
        let early = objects.crl(TestPKI.crl(issuer: world.caA, revoked: [], lastUpdate: Date(timeIntervalSinceNow: 86_400),
                                            nextUpdate: Date(timeIntervalSinceNow: 86_400 * 3), authorityKeyIdentifier: false))
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [stale], verified: [(stale, ca)]) == X509_V_ERR_CRL_HAS_EXPIRED)
        #expect(Self.firstError(leaf: leaf, cas: [ca], crls: [early], verified: [(early, ca)]) == X509_V_ERR_CRL_NOT_YET_VALID)
    }

    /// Each of two same-name CAs has its own CRL without authorityKeyIdentifier: each CA's
    /// cards are checked against that CA's CRL, whichever CRL is newer.
    @Test func sameNameCAsEachGetTheirOwnCRL() {
        let world = SameName()
        let objects = Objects()
        let caA = objects.certificate(world.caA.der)
        let caB = objects.certificate(world.caB.der)
        let revokedA = TestPKI.client("ra", issuer: world.caA, key: TrustedCRLTests.leafKey, serial: 501)
        let revokedB = TestPKI.client("rb", issuer: world.caB, key: TrustedCRLTests.leafKey, serial: 502)
        // B's CRL is the newer one: OpenSSL's own choice for A's cards would be B's CRL.
        let crlA = objects.crl(TestPKI.crl(issuer: world.caA, revoked: [501], lastUpdate: Date(timeIntervalSinceNow: -7200),
                                           authorityKeyIdentifier: false))
        let crlB = objects.crl(TestPKI.crl(issuer: world.caB, revoked: [502], lastUpdate: Date(timeIntervalSinceNow: -60),
                                           authorityKeyIdentifier: false))
        let cas = [caA, caB]
        let crls = [crlA, crlB]
        let verified = [(crlA, caA), (crlB, caB)]
        #expect(Self.firstError(leaf: objects.certificate(world.leafA.der), cas: cas, crls: crls, verified: verified) == X509_V_OK)
        #expect(Self.firstError(leaf: objects.certificate(world.leafB.der), cas: cas, crls: crls, verified: verified) == X509_V_OK)
        #expect(Self.firstError(leaf: objects.certificate(revokedA.der), cas: cas, crls: crls, verified: verified) == X509_V_ERR_CERT_REVOKED)
        #expect(Self.firstError(leaf: objects.certificate(revokedB.der), cas: cas, crls: crls, verified: verified) == X509_V_ERR_CERT_REVOKED)
        // A CA whose only same-name CRL is the other CA's has no CRL of its own.
        #expect(Self.firstError(leaf: objects.certificate(world.leafA.der), cas: cas, crls: [crlB], verified: [(crlB, caB)])
                == X509_V_ERR_UNABLE_TO_GET_CRL)
    }
}
