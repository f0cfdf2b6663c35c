import COpenSSL
import COpenSSLShims
import FoundationEssentials
import TestSupport
import Testing
@testable import TLS

/// CompactCRLs.c: a CRL held as its signed DER and a sorted serial table must answer exactly as
/// OpenSSL's whole X509_CRL does, verify exactly when OpenSSL's check does, and leave to OpenSSL
/// every CRL it does not model.
@Suite struct CompactCRLTests {
    static let ca = TestPKI.ca("Regione Compatta - CA Cittadini")

    /// OpenSSL's own answer: listed and not removeFromCRL (X509_CRL_get0_by_serial returns 2
    /// for a removeFromCRL entry).
    static func revokedByOpenSSL(_ whole: OpaquePointer, _ serial: UnsafeMutablePointer<ASN1_INTEGER>) -> Bool {
        var entry: OpaquePointer?
        return X509_CRL_get0_by_serial(whole, &entry, serial) == 1
    }

    static func integer(_ bytes: [UInt8]) -> UnsafeMutablePointer<ASN1_INTEGER> {
        let number = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        defer { BN_free(number) }
        return BN_to_ASN1_INTEGER(number, nil)!
    }

    /// Parses `der` both ways and checks every entry and every neighbour of every entry.
    static func expectSameAnswers(_ der: [UInt8], entries: [TestCRLEntry], extraProbes: [[UInt8]] = [],
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let list = try #require(X509RevocationList(der: der), sourceLocation: sourceLocation)
        #expect(list.isCompact, sourceLocation: sourceLocation)
        let whole = try #require(list.whole(), sourceLocation: sourceLocation)
        #expect(!whole.isCompact)
        var probes = extraProbes
        for entry in entries {
            probes.append(entry.serial)
            var above = entry.serial
            if let last = above.indices.last(where: { above[$0] != 0xff }) {
                above[last] += 1
                probes.append(above)
            }
            var below = entry.serial
            if let last = below.indices.last(where: { below[$0] != 0 }) {
                below[last] -= 1
                probes.append(below)
            }
            probes.append([0] + entry.serial)   // the same value (the encoder drops the zero)
            probes.append(entry.serial + [0])   // 256 times larger
        }
        // A serial listed both as removeFromCRL and with another reason (a contradictory CRL):
        // OpenSSL answers from whichever of the two its unstable sort put first; ours is revoked.
        let value = { (bytes: [UInt8]) -> [UInt8] in Array(bytes.drop { $0 == 0 }) }
        let removed = Set(entries.filter { $0.reason == 8 }.map { value($0.serial) })
        let contradictory = Set(entries.filter { $0.reason != 8 }.map { value($0.serial) }).intersection(removed)
        var listed = 0
        for probe in probes {
            let serial = integer(probe)
            defer { ASN1_INTEGER_free(serial) }
            if contradictory.contains(value(probe)) {
                #expect(CNSCRL_compact_contains(list.compact, serial) == 1, "contradictory serial \(probe) not revoked",
                        sourceLocation: sourceLocation)
                continue
            }
            let expected = revokedByOpenSSL(whole.pointer, serial)
            if expected { listed += 1 }
            #expect(CNSCRL_compact_contains(list.compact, serial) == (expected ? 1 : 0),
                    "serial \(probe.map { String($0, radix: 16) }) expected \(expected)", sourceLocation: sourceLocation)
        }
        #expect(list.entryCount == entries.filter { $0.reason != 8 }.count, sourceLocation: sourceLocation)
        if entries.contains(where: { $0.reason != 8 }) { #expect(listed > 0, sourceLocation: sourceLocation) }
    }

    @Test func serialsOfEveryShapeAnswerAsOpenSSLDoes() throws {
        let entries: [TestCRLEntry] = [
            TestCRLEntry(1), TestCRLEntry(0x7f), TestCRLEntry(0x80), TestCRLEntry(0xff), TestCRLEntry(0x100),
            TestCRLEntry(0x8000), TestCRLEntry(UInt64.max), TestCRLEntry(UInt64(Int64.max)),
            TestCRLEntry(serial: Array(repeating: 0xff, count: 20)),                              // 20 bytes, high bit set
            TestCRLEntry(serial: [0x01] + Array(repeating: 0, count: 19)),
            TestCRLEntry(serial: [0x7f, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]),
            TestCRLEntry(serial: [0x80] + Array(repeating: 0xaa, count: 15)),
        ]
        let der = TestPKI.crl(issuer: Self.ca, entries: entries)
        try Self.expectSameAnswers(der, entries: entries, extraProbes: [[0], [0x02], [0xfe], [0x01, 0x01]])
    }

    @Test func entriesOutOfOrderAndRepeatedAreFound() throws {
        let entries = [9000, 12, 500, 12, 77, 1, 65_536, 3].map { TestCRLEntry(UInt64($0)) }
        try Self.expectSameAnswers(TestPKI.crl(issuer: Self.ca, entries: entries), entries: entries)
    }

    @Test func anEmptyCRLListsNothing() throws {
        let der = TestPKI.crl(issuer: Self.ca, entries: [])
        let list = try #require(X509RevocationList(der: der))
        #expect(list.isCompact)
        #expect(list.entryCount == 0)
        let serial = Self.integer([1])
        defer { ASN1_INTEGER_free(serial) }
        #expect(CNSCRL_compact_contains(list.compact, serial) == 0)
    }

    /// removeFromCRL (reason 8) takes an entry out; every other reason keeps it revoked.
    @Test func removeFromCRLIsNotRevokedOtherReasonsAre() throws {
        let entries = (0...10).map { TestCRLEntry(UInt64(100 + $0), reason: $0 == 7 ? nil : $0) }
        try Self.expectSameAnswers(TestPKI.crl(issuer: Self.ca, entries: entries), entries: entries)
    }

    /// The same serial listed twice, once removeFromCRL and once revoked: revoked, in either
    /// order (OpenSSL's answer depends on how its sort left the two; a refusal is the safe one).
    @Test(arguments: [false, true])
    func aSerialBothRemovedAndRevokedIsRevoked(removedFirst: Bool) throws {
        let pair = [TestCRLEntry(0x999d, reason: 8), TestCRLEntry(0x999d, reason: 1)]
        let entries = (removedFirst ? pair : pair.reversed()) + [TestCRLEntry(0x10), TestCRLEntry(0xfff0, reason: 8)]
        let list = try #require(X509RevocationList(der: TestPKI.crl(issuer: Self.ca, entries: entries)))
        #expect(list.isCompact)
        for (bytes, revoked) in [([0x99, 0x9d], true), ([0x00, 0x99, 0x9d], true), ([0x10], true), ([0xff, 0xf0], false),
                                 ([0x99, 0x9e], false)] as [([UInt8], Bool)] {
            let serial = Self.integer(bytes)
            defer { ASN1_INTEGER_free(serial) }
            #expect(CNSCRL_compact_contains(list.compact, serial) == (revoked ? 1 : 0), "serial \(bytes)")
        }
    }

    /// Random CRLs: random serial lengths and values, random order, some removeFromCRL.
    @Test func randomCRLsAnswerAsOpenSSLDoes() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let entries = (0..<Int.random(in: 0...300, using: &generator)).map { _ -> TestCRLEntry in
                let length = Int.random(in: 1...20, using: &generator)
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                return TestCRLEntry(serial: bytes, reason: Int.random(in: 0..<10, using: &generator) == 0 ? 8 : nil)
            }
            try Self.expectSameAnswers(TestPKI.crl(issuer: Self.ca, entries: entries), entries: entries)
        }
    }

    /// The signature is checked over the bytes the issuer signed, for each algorithm a CNS or
    /// CIE CA uses (SHA-1 and SHA-256 RSA, ECDSA, RSA-PSS), and fails for another key.
    @Test func signaturesVerifyAsOpenSSLDoes() throws {
        let ecCA = TestPKI.ca("Regione Ellittica - CA", key: TestKey.ecP256())
        let cases: [(TestCertificate, TestCRLSignature)] = [
            (Self.ca, .digest("SHA256")), (Self.ca, .digest("SHA1")), (Self.ca, .digest("SHA384")), (Self.ca, .rsaPSS),
            (ecCA, .digest("SHA256")), (ecCA, .digest("SHA384")),
        ]
        let other = try #require(X509Certificate(der: TestPKI.ca("Regione Compatta - CA Cittadini").der))
        for (issuer, signature) in cases {
            let der = TestPKI.crl(issuer: issuer, entries: [TestCRLEntry(5), TestCRLEntry(6)], signature: signature)
            let list = try #require(X509RevocationList(der: der))
            #expect(list.isCompact, "\(signature)")
            let certificate = try #require(X509Certificate(der: issuer.der))
            let whole = try #require(list.whole())
            #expect(X509_CRL_verify(whole.pointer, X509_get0_pubkey(certificate.pointer)) == 1, "\(signature)")
            #expect(list.verify(with: certificate), "\(signature)")
            #expect(!list.verify(with: other), "\(signature)")
            #expect(list.der == der)
        }
    }

    /// A changed byte anywhere in what was signed (an entry's serial, a date) fails the check,
    /// though the compact parser still reads the CRL.
    @Test func aChangedEntryFailsTheSignature() throws {
        let der = TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(0x4242_4242), TestCRLEntry(7)])
        let certificate = try #require(X509Certificate(der: Self.ca.der))
        let at = try #require(Self.find([0x02, 0x04, 0x42, 0x42, 0x42, 0x42], in: der))
        var forged = der
        forged[at + 5] = 0x43
        let list = try #require(X509RevocationList(der: forged))
        #expect(list.isCompact)
        #expect(!list.verify(with: certificate))
        #expect(try #require(X509RevocationList(der: der)).verify(with: certificate))
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }
    }

    /// What the compact form does not model goes to OpenSSL whole: issuing distribution
    /// points, delta CRLs, unknown critical extensions, indirect and critical entries.
    @Test func featuresItDoesNotModelAreLeftToOpenSSL() throws {
        let other = TestPKI.ca("Altro Emittente")
        let leftToOpenSSL: [(String, [UInt8])] = [
            ("issuing distribution point", TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1)], extensions: [.onlyUserCertificates])),
            ("delta CRL", TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1)], extensions: [.deltaOfCRL1])),
            ("unknown critical extension", TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1)], extensions: [.unknownCritical])),
            ("critical entry extension", TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1), TestCRLEntry(serial: [2], criticalExtension: true)])),
            ("indirect entry", TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1), TestCRLEntry(serial: [2], certificateIssuer: other)])),
        ]
        for (name, der) in leftToOpenSSL {
            let list = try #require(X509RevocationList(der: der), "\(name)")
            #expect(!list.isCompact, "\(name)")
            #expect(list.entryCount == 2 || name != "critical entry extension", "\(name)")
        }
        // A non-critical unknown extension is modelled (OpenSSL ignores it too).
        let plain = try #require(X509RevocationList(der: TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1)], extensions: [.unknownNonCritical])))
        #expect(plain.isCompact)
    }

    /// Bytes that are not a strict DER CRL: refused by both, or left to OpenSSL to judge.
    @Test func malformedEncodingsAreNotCompact() throws {
        let der = TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1), TestCRLEntry(2)])
        #expect(X509RevocationList(der: Array(der.prefix(der.count - 1))) == nil)
        #expect(X509RevocationList(der: []) == nil)
        #expect(X509RevocationList(der: Array("not a CRL at all, just text that is long enough".utf8)) == nil)
        var compact: OpaquePointer?
        // Trailing bytes after the CRL.
        #expect(CNSCRL_compact_parse(der + [0], der.count + 1, &compact) == 0)
        // A truncated buffer and a length that runs past the end.
        #expect(CNSCRL_compact_parse(der, der.count - 3, &compact) == 0)
        var overlong = der
        overlong[3] = overlong[3] &+ 1
        #expect(CNSCRL_compact_parse(overlong, overlong.count, &compact) == 0)
        #expect(compact == nil)
        // Every single-byte truncation and every one-byte corruption of the header region
        // either parses (and then agrees with OpenSSL) or is refused; none crashes.
        for length in stride(from: 0, to: der.count, by: 7) {
            _ = X509RevocationList(der: Array(der.prefix(length)))
        }
        for at in 0..<min(der.count, 200) {
            var corrupted = der
            corrupted[at] ^= 0x5a
            if let list = X509RevocationList(der: corrupted), list.isCompact, let whole = list.whole() {
                for serial in [[UInt8(1)], [2], [3]] {
                    let number = Self.integer(serial)
                    defer { ASN1_INTEGER_free(number) }
                    #expect(CNSCRL_compact_contains(list.compact, number) == (Self.revokedByOpenSSL(whole.pointer, number) ? 1 : 0))
                }
            }
        }
    }

    /// Through the trust store and OpenSSL's chain check: a card listed in a compact CRL is
    /// revoked, its neighbours are not, removeFromCRL releases it; a PEM file with several
    /// CRLs (one per CA) is read whole.
    @Test func theTrustStoreAnswersFromCompactCRLs() throws {
        let dir = TestPKI.directory("compact-crls")
        defer { dir.remove() }
        let second = TestPKI.ca("Regione Seconda - CA Cittadini")
        let first = TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(0x80), TestCRLEntry(UInt64.max), TestCRLEntry(9, reason: 8), TestCRLEntry(300)])
        let other = TestPKI.crl(issuer: second, entries: [TestCRLEntry(0x80), TestCRLEntry(41)], signature: .digest("SHA1"))
        let pem = dir.write("both.pem", TestPKI.crlPEM(first) + TestPKI.crlPEM(other))
        let store = try TrustStore(TrustSources(caBundle: dir.write("bundle.pem", Self.ca.pem + second.pem), crls: [pem],
                                                revocation: .require, legacyIssuers: []))
        #expect(store.crls.count == 2)
        let key = ChainWorld.key2048
        let expectations: [(TestCertificate, UInt64, CertificateReason)] = [
            (Self.ca, 0x80, .revoked), (Self.ca, UInt64.max, .revoked), (Self.ca, 300, .revoked),
            (Self.ca, 0x7f, .ok), (Self.ca, 0x81, .ok), (Self.ca, 9, .ok), (Self.ca, 41, .ok), (Self.ca, UInt64.max - 1, .ok),
            (second, 0x80, .revoked), (second, 41, .revoked), (second, 300, .ok),
        ]
        for (issuer, serial, reason) in expectations {
            let verdict = store.verify(leafDER: TestPKI.client("card", issuer: issuer, key: key, serial: serial).der)
            #expect(verdict.reason == reason, "serial \(serial) of \(issuer === second ? "second" : "first") CA")
        }
    }

    /// CRLFileReader.c: PEM blocks one at a time (other blocks skipped, CRLF line ends, lines
    /// of any width), a DER file, and a clear error for every broken file.
    @Test func crlFilesAreReadBlockByBlock() throws {
        let dir = TestPKI.directory("crl-files")
        defer { dir.remove() }
        let first = TestPKI.crl(issuer: Self.ca, entries: [TestCRLEntry(1), TestCRLEntry(2)])
        let second = TestPKI.crl(issuer: Self.ca, entries: (1...500).map { TestCRLEntry(UInt64($0)) }, extensions: [.onlyUserCertificates])
        let mixed = Self.ca.pem + TestPKI.crlPEM(first) + "some text between blocks\n" + TestPKI.crlPEM(second).replacingOccurrences(of: "\n", with: "\r\n")
        let read = try CRLFileCache.read(dir.write("mixed.pem", mixed))
        #expect(read.count == 2)
        #expect(read.map(\.der) == [first, second])
        #expect(read.map(\.isCompact) == [true, false])
        #expect(read.map(\.entryCount) == [2, 500])
        // One base64 line for the whole block.
        let oneLine = "-----BEGIN X509 CRL-----\n" + Data(first).base64EncodedString() + "\n-----END X509 CRL-----\n"
        #expect(try CRLFileCache.read(dir.write("one-line.pem", oneLine)).map(\.der) == [first])
        #expect(try CRLFileCache.read(dir.write("crl.der", first)).map(\.der) == [first])

        let pem = TestPKI.crlPEM(first)
        let broken: [(String, String)] = [
            ("no-end.pem", String(pem.dropLast("-----END X509 CRL-----\n".count))),
            ("bad-base64.pem", pem.replacingOccurrences(of: "-----BEGIN X509 CRL-----\n", with: "-----BEGIN X509 CRL-----\n!!!!\n")),
            ("headers.pem", pem.replacingOccurrences(of: "-----BEGIN X509 CRL-----\n", with: "-----BEGIN X509 CRL-----\nProc-Type: 4,ENCRYPTED\n\n")),
            ("empty-block.pem", "-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"),
            ("not-a-crl.pem", "-----BEGIN X509 CRL-----\n" + Data(Array(repeating: UInt8(0x41), count: 90)).base64EncodedString() + "\n-----END X509 CRL-----\n"),
            ("no-crl.pem", Self.ca.pem),
            ("empty.pem", ""),
        ]
        for (name, text) in broken {
            let file = dir.write(name, text)
            #expect(throws: TLSError.self, "\(name)") { try CRLFileCache.read(file) }
        }
        #expect(throws: TLSError(.crl, "")) { try CRLFileCache.read(dir.write("truncated.der", Array(first.dropLast(10)))) }
        #expect(throws: TLSError(.file, "")) { try CRLFileCache.read(dir.path + "/missing.pem") }
    }
}
