import CNS
import Crypto
import Foundation
import Testing
import X509

struct EvaluatorCase: Sendable, CustomTestStringConvertible {
    enum Input: Sendable {
        case certificate(LeafSpec)
        case bytes([UInt8])
    }

    var name: String
    var input: Input
    var profile: CNSProfile = .standard
    var expected: CNSReason
    /// Further expectations on an accepted identity; the DER is passed for the thumbprint.
    var check: (@Sendable (CNSIdentity, [UInt8]) -> Void)?

    var testDescription: String { name }

    func der() throws -> [UInt8] {
        switch input {
        case .certificate(let spec): return try spec.derBytes()
        case .bytes(let bytes): return bytes
        }
    }
}

private func spec(_ change: (inout LeafSpec) -> Void) -> EvaluatorCase.Input {
    var spec = LeafSpec()
    change(&spec)
    return .certificate(spec)
}

private let cnsLike = CNSProfile(allowCNSLike: true)
private let cnsOnly = CNSProfile(kinds: [.cns])
private let cieOnly = CNSProfile(kinds: [.cie])
/// The CIE leaf of the issue: C, SN, GN, CN `<CF>/<12 digits>`, serialNumber `IDCIT-<n>`, no O/OU,
/// the CIE policy, and neither extendedKeyUsage nor CRL/AIA pointers (not known for the real card).
private func cie(_ change: (inout LeafSpec) -> Void = { _ in }) -> EvaluatorCase.Input {
    spec {
        $0.subject = [.country("IT"), .surname("ROSSI"), .givenName("MARIO"), .commonName("RSSMRA80A01H501U/004400123456"),
                      .serialNumber("IDCIT-CA00000AA")]
        $0.policies = ["1.3.76.47.4"]
        $0.extendedKeyUsage = nil
        $0.keyUsage = KeyUsage(digitalSignature: true)
        change(&$0)
    }
}
private let universityCN = "RSSMRA80A01H501U/7430010024925855.lsKV/lNtBAmc8x5lzSb+cxx2UzE="
private let signatureSubject: [TestAttribute] = [
    .country("IT"), .organization("ArubaPEC S.p.A."), .commonName("ROSSI MARIO"),
    .serialNumber("TINIT-RSSMRA80A01H501U"), .givenName("MARIO"), .surname("ROSSI"), .dnQualifier("18113425"),
]
private func cnsLikeSubject(_ serialNumber: String) -> [TestAttribute] {
    [.country("IT"), .organization("Namirial S.p.A."), .commonName("MARIO ROSSI"), .serialNumber(serialNumber), .givenName("MARIO"), .surname("ROSSI")]
}

enum EvaluatorCases {
    static let all: [EvaluatorCase] = [
        EvaluatorCase(name: "regional TS-CNS (Sardegna, ArubaPEC)", input: spec { _ in }, expected: .ok) { identity, der in
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            #expect(identity.cardID == "6120016461039008")
            #expect(identity.cnHash == "OcjosidjOIUjhohdcaalkKgUgB4=")
            #expect(identity.givenName == "MARIO")
            #expect(identity.surname == "ROSSI")
            #expect(identity.administration == "REGIONE AUTONOMA DELLA SARDEGNA")
            #expect(identity.organization == "ArubaPEC S.p.A.")
            #expect(identity.subject == "C=IT, O=ArubaPEC S.p.A., OU=REGIONE AUTONOMA DELLA SARDEGNA, CN=RSSMRA80A01H501U/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=, GN=MARIO, SN=ROSSI")
            #expect(identity.issuer == "C=IT, O=ArubaPEC S.p.A., OU=Certification AuthorityC, CN=Regione Autonoma della Sardegna - CA Cittadini")
            #expect(identity.serialHex == "5A3C11027E")
            #expect(identity.notBefore == Date(timeIntervalSince1970: 1_700_000_000))
            #expect(identity.notAfter == Date(timeIntervalSince1970: 1_889_000_000))
            #expect(identity.keyAlgorithm == "RSA")
            #expect(identity.keyBits == 2048)
            #expect(identity.signatureAlgorithm == "sha256WithRSAEncryption")
            #expect(identity.policyOIDs == ["1.3.76.16.2.1"])
            #expect(identity.sha256Thumbprint == SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined())
            #expect(identity.source == .commonName)
        },
        EvaluatorCase(
            name: "university card: no GN/SN, hash with / and +, GeneralizedTime expiry",
            input: spec {
                $0.subject = [.country("IT"), .unit("Universita' della Calabria"), .commonName(universityCN)]
                $0.notAfter = Date(timeIntervalSince1970: 2_556_144_000)  // 2051-01-01: GeneralizedTime
                $0.serial = [0x9F, 0x01]  // top bit set: DER adds a 00 byte
            },
            expected: .ok
        ) { identity, _ in
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            #expect(identity.cardID == "7430010024925855")
            #expect(identity.cnHash == "lsKV/lNtBAmc8x5lzSb+cxx2UzE=")
            #expect(identity.givenName == nil)
            #expect(identity.surname == nil)
            #expect(identity.organization == nil)
            #expect(identity.administration == "Universita' della Calabria")
            #expect(identity.subject == #"C=IT, OU=Universita' della Calabria, CN=RSSMRA80A01H501U/7430010024925855.lsKV/lNtBAmc8x5lzSb\+cxx2UzE="#)
            #expect(identity.notAfter == Date(timeIntervalSince1970: 2_556_144_000))
            #expect(identity.serialHex == "9F01")
        },
        EvaluatorCase(
            name: "Lombardy CRS policy, omocode CF",
            input: spec {
                $0.policies = ["1.3.159.6.1.3.2.10"]
                $0.subject = [.country("IT"), .organization("Poste Italiane S.p.A."), .unit("Regione Lombardia"),
                              .commonName("RSSMRA80A01H5LMX/1234567890123456.AAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
            },
            expected: .ok
        ) { identity, _ in
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H5LMX")
            #expect(identity.codiceFiscale.isOmocode)
            #expect(identity.policyOIDs == ["1.3.159.6.1.3.2.10"])
        },
        EvaluatorCase(
            name: "CNS 1.0 card: RSA-1024 key, SHA-1 signature",
            input: spec { $0.key = .rsa1024; $0.signature = .sha1WithRSA },
            expected: .ok
        ) { identity, _ in
            #expect(identity.keyAlgorithm == "RSA")
            #expect(identity.keyBits == 1024)
            #expect(identity.signatureAlgorithm == "sha1WithRSAEncryption")
        },
        EvaluatorCase(
            name: "EC P-256 key, ECDSA signature, several policies",
            input: spec {
                $0.key = .p256
                $0.signature = .ecdsaWithSHA256
                $0.policies = ["1.3.6.1.4.1.29741.1.1.1", "1.3.76.16.2.1"]
            },
            expected: .ok
        ) { identity, _ in
            #expect(identity.keyAlgorithm == "EC")
            #expect(identity.keyBits == 256)
            #expect(identity.signatureAlgorithm == "ecdsa-with-SHA256")
            #expect(identity.policyOIDs == ["1.3.6.1.4.1.29741.1.1.1", "1.3.76.16.2.1"])
        },
        EvaluatorCase(
            name: "names in BMPString and TeletexString are decoded",
            input: spec {
                $0.subject = [.country("IT"), .unit("Regione Toscana"),
                              .commonName("BNCLRA85T41F205Y/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4="),
                              .init(oid: "2.5.4.42", value: "NICCOLÒ", encoding: .bmp),
                              .init(oid: "2.5.4.4", value: "D'ANNUNZIÈ", encoding: .teletex)]
            },
            expected: .ok
        ) { identity, _ in
            #expect(identity.givenName == "NICCOLÒ")
            #expect(identity.surname == "D'ANNUNZIÈ")
            #expect(identity.codiceFiscale.sex == .female)
        },
        EvaluatorCase(
            name: "signature certificate: nonRepudiation only, TINIT serialNumber",
            input: spec {
                $0.subject = signatureSubject
                $0.keyUsage = KeyUsage(nonRepudiation: true)
                $0.extendedKeyUsage = nil
                $0.policies = ["1.3.76.16.6"]
            },
            expected: .signatureCertificate
        ),
        EvaluatorCase(
            name: "signature certificate wins even with the CNS-like opt-in",
            input: spec {
                $0.subject = signatureSubject
                $0.keyUsage = KeyUsage(nonRepudiation: true)
                $0.extendedKeyUsage = nil
                $0.policies = ["1.3.76.16.6"]
            },
            profile: cnsLike,
            expected: .signatureCertificate
        ),
        EvaluatorCase(
            name: "extendedKeyUsage without clientAuth",
            input: spec { $0.extendedKeyUsage = ["1.3.6.1.5.5.7.3.4"] },
            expected: .signatureCertificate
        ),
        EvaluatorCase(
            name: "extendedKeyUsage without clientAuth, profile not asking for it",
            input: spec { $0.extendedKeyUsage = ["1.3.6.1.5.5.7.3.4"] },
            profile: CNSProfile(requireClientAuthWhenEKUPresent: false),
            expected: .ok
        ),
        EvaluatorCase(
            name: "anyExtendedKeyUsage alone does not stand for clientAuth",
            input: spec { $0.extendedKeyUsage = ["2.5.29.37.0"] },
            expected: .signatureCertificate
        ),
        EvaluatorCase(
            name: "digitalSignature and nonRepudiation together",
            input: spec { $0.keyUsage = KeyUsage(digitalSignature: true, nonRepudiation: true) },
            expected: .ok
        ),
        EvaluatorCase(
            name: "no extendedKeyUsage at all is fine",
            input: spec { $0.extendedKeyUsage = nil },
            expected: .ok
        ),
        EvaluatorCase(
            name: "keyUsage without digitalSignature",
            input: spec { $0.keyUsage = KeyUsage(keyEncipherment: true) },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "no keyUsage extension",
            input: spec { $0.keyUsage = nil },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "no CNS policy",
            input: spec { $0.policies = ["2.23.140.1.2.1"] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "no certificatePolicies extension",
            input: spec { $0.policies = nil },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "no certificatePolicies extension, profile requiring none",
            input: spec { $0.policies = nil },
            profile: CNSProfile(policyOIDs: []),
            expected: .ok
        ),
        EvaluatorCase(
            name: "CN is only the CF",
            input: spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501U")] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "CN is only the CF, profile not requiring the CNS format",
            input: spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501U")] },
            profile: CNSProfile(requireCNFormat: false),
            expected: .ok
        ) { identity, _ in
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            #expect(identity.cardID == nil)
            #expect(identity.cnHash == nil)
        },
        EvaluatorCase(
            name: "card id of 15 digits",
            input: spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501U/612001646103900.OcjosidjOIUjhohdcaalkKgUgB4=")] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "hash of 27 characters",
            input: spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501U/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4")] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "two CN attributes",
            input: spec { $0.subject = LeafSpec.sardegnaSubject + [.commonName("VRDGPP70L10L219P/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=")] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "CF with a wrong check letter",
            input: spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501X/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=")] },
            expected: .invalidFiscalCode
        ),
        EvaluatorCase(
            name: "numeric (legal entity) CF in the CN",
            input: spec { $0.subject = [.country("IT"), .commonName("03358520967/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=")] },
            expected: .invalidFiscalCode
        ),
        EvaluatorCase(
            name: "CNS-like TINIT- without the opt-in",
            input: spec { $0.subject = cnsLikeSubject("TINIT-RSSMRA80A01H501U"); $0.policies = ["1.3.6.1.4.1.36203.1.1.1"] },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "CNS-like TINIT- with the opt-in",
            input: spec { $0.subject = cnsLikeSubject("TINIT-RSSMRA80A01H501U"); $0.policies = ["1.3.6.1.4.1.36203.1.1.1"] },
            profile: cnsLike,
            expected: .ok
        ) { identity, _ in
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            #expect(identity.source == .serialNumber)
            #expect(identity.cardID == nil)
            #expect(identity.cnHash == nil)
            #expect(identity.organization == "Namirial S.p.A.")
        },
        EvaluatorCase(
            name: "CNS-like IT: without the opt-in",
            input: spec { $0.subject = cnsLikeSubject("IT:VRDGPP70L10L219P"); $0.policies = nil },
            expected: .notCNSCertificate
        ),
        EvaluatorCase(
            name: "CNS-like IT: with the opt-in",
            input: spec { $0.subject = cnsLikeSubject("IT:VRDGPP70L10L219P"); $0.policies = nil },
            profile: cnsLike,
            expected: .ok
        ) { identity, _ in
            #expect(identity.codiceFiscale.value == "VRDGPP70L10L219P")
            #expect(identity.source == .serialNumber)
        },
        EvaluatorCase(
            name: "CNS-like with a wrong check letter, opt-in",
            input: spec { $0.subject = cnsLikeSubject("TINIT-VRDGPP70L10L219A"); $0.policies = nil },
            profile: cnsLike,
            expected: .invalidFiscalCode
        ),
        EvaluatorCase(
            name: "CNS-like with another serialNumber scheme, opt-in",
            input: spec { $0.subject = cnsLikeSubject("PNOIT-AB1234567"); $0.policies = nil },
            profile: cnsLike,
            expected: .notCNSCertificate
        ),
        EvaluatorCase(name: "CIE: CN <CF>/<12 digits>, IDCIT serialNumber, no EKU", input: cie(), expected: .ok) { identity, _ in
            #expect(identity.kind == .cie)
            #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            #expect(identity.documentNumber == "CA00000AA")
            #expect(identity.cnNumber == "004400123456")
            #expect(identity.cardID == nil)
            #expect(identity.cnHash == nil)
            #expect(identity.givenName == "MARIO")
            #expect(identity.surname == "ROSSI")
            #expect(identity.administration == nil)
            #expect(identity.organization == nil)
            #expect(identity.policyOIDs == ["1.3.76.47.4"])
            #expect(identity.source == .commonName)
        },
        EvaluatorCase(name: "CIE with an EKU that lacks clientAuth: the CIE profile does not look at it",
                      input: cie { $0.extendedKeyUsage = ["1.3.6.1.5.5.7.3.4"] }, expected: .ok) { identity, _ in
            #expect(identity.kind == .cie)
        },
        EvaluatorCase(name: "CIE without serialNumber: no document number, still a CIE",
                      input: cie { $0.subject.removeLast() }, expected: .ok) { identity, _ in
            #expect(identity.kind == .cie)
            #expect(identity.documentNumber == nil)
        },
        EvaluatorCase(name: "CIE with a serialNumber of another scheme: no document number",
                      input: cie { $0.subject[4] = .serialNumber("TINIT-RSSMRA80A01H501U") }, expected: .ok) { identity, _ in
            #expect(identity.documentNumber == nil)
        },
        EvaluatorCase(name: "CIE with a wrong CF check letter",
                      input: cie { $0.subject[3] = .commonName("RSSMRA80A01H501X/004400123456") }, expected: .invalidFiscalCode),
        EvaluatorCase(name: "CIE with 11 digits after the CF",
                      input: cie { $0.subject[3] = .commonName("RSSMRA80A01H501U/00440012345") }, expected: .notCNSCertificate),
        EvaluatorCase(name: "CIE with the CNS CN form is still judged as a CIE",
                      input: cie { $0.subject[3] = .commonName("RSSMRA80A01H501U/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=") },
                      expected: .notCNSCertificate),
        EvaluatorCase(name: "CIE CN of the CF alone, profile not requiring the format",
                      input: cie { $0.subject[3] = .commonName("RSSMRA80A01H501U") },
                      profile: CNSProfile(requireCNFormat: false), expected: .ok) { identity, _ in
            #expect(identity.kind == .cie)
            #expect(identity.cnNumber == nil)
        },
        EvaluatorCase(name: "CIE while cie is off", input: cie(), profile: cnsOnly, expected: .notCNSCertificate),
        EvaluatorCase(name: "CIE while cie is off, even with a loose CNS profile",
                      input: cie(), profile: CNSProfile(kinds: [.cns], policyOIDs: [], requireCNFormat: false), expected: .notCNSCertificate),
        EvaluatorCase(name: "CIE signature-only keyUsage", input: cie { $0.keyUsage = KeyUsage(nonRepudiation: true) },
                      expected: .signatureCertificate),
        EvaluatorCase(name: "CIE only: a CIE is accepted", input: cie(), profile: cieOnly, expected: .ok),
        EvaluatorCase(name: "CIE only: a TS-CNS is not", input: spec { _ in }, profile: cieOnly, expected: .notCNSCertificate),
        EvaluatorCase(name: "garbage bytes", input: .bytes(Array("-----BEGIN CERTIFICATE-----".utf8)), expected: .malformedCertificate),
        EvaluatorCase(name: "empty input", input: .bytes([]), expected: .malformedCertificate),
        EvaluatorCase(name: "a DER INTEGER", input: .bytes([0x02, 0x01, 0x05]), expected: .malformedCertificate),
    ]
}

@Suite("CNS certificate profile")
struct CNSEvaluatorTests {
    @Test("each case gives its reason", arguments: EvaluatorCases.all)
    func evaluate(_ testCase: EvaluatorCase) throws {
        let der = try testCase.der()
        switch CNSEvaluator.evaluate(leafDER: der, profile: testCase.profile) {
        case .success(let identity):
            #expect(testCase.expected == .ok, "accepted as \(identity.codiceFiscale)")
            testCase.check?(identity, der)
        case .failure(let rejection):
            #expect(rejection.reason == testCase.expected, "\(rejection)")
            #expect(!rejection.detail.isEmpty)
        }
    }

    @Test("the table reaches every reason code")
    func everyReasonIsReached() throws {
        var reached = Set<CNSReason>()
        for testCase in EvaluatorCases.all {
            switch CNSEvaluator.evaluate(leafDER: try testCase.der(), profile: testCase.profile) {
            case .success: reached.insert(.ok)
            case .failure(let rejection): reached.insert(rejection.reason)
            }
        }
        #expect(reached == Set(CNSReason.allCases))
    }

    @Test("damaged DER of a good certificate is malformed, never accepted")
    func damagedDER() throws {
        let der = try LeafSpec().derBytes()
        #expect((try? CNSEvaluator.evaluate(leafDER: der).get()) != nil)
        var variants: [(String, [UInt8])] = [
            ("trailing byte", der + [0x00]),
            ("truncated", Array(der.dropLast())),
            ("first half", Array(der.prefix(der.count / 2))),
        ]
        var tampered = der
        tampered[1] ^= 0x01  // outer length
        variants.append(("outer length", tampered))
        for (name, bytes) in variants {
            guard case .failure(let rejection) = CNSEvaluator.evaluate(leafDER: bytes) else {
                Issue.record("\(name): accepted")
                continue
            }
            #expect(rejection.reason == .malformedCertificate, "\(name): \(rejection)")
        }
    }

    @Test("random bytes and random single-byte corruptions never crash and never yield another identity")
    func fuzz() throws {
        let der = try LeafSpec().derBytes()
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<300 {
            let length = Int.random(in: 0..<200, using: &generator)
            let noise = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if case .success = CNSEvaluator.evaluate(leafDER: noise) {
                Issue.record("random bytes accepted: \(noise)")
            }
        }
        for _ in 0..<300 {
            var corrupted = der
            let index = Int.random(in: corrupted.indices, using: &generator)
            corrupted[index] ^= UInt8.random(in: 1...255, using: &generator)
            // A flipped byte inside the signature, the key or the hash still parses; one inside the
            // CF can only be rejected or normalised back (a flipped case bit), as the
            // single-substitution property test shows. Either way the person stays the same.
            if case .success(let identity) = CNSEvaluator.evaluate(leafDER: corrupted) {
                #expect(identity.codiceFiscale.value == "RSSMRA80A01H501U")
            }
        }
    }

    @Test("rejections compare by reason only and name the throw site")
    func rejectionEquality() {
        let first = CNSRejection(reason: .notCNSCertificate, detail: "a")
        #expect(first == CNSRejection(reason: .notCNSCertificate, detail: "b"))
        #expect(first != CNSRejection(reason: .invalidFiscalCode, detail: "a"))
        #expect(first.description.hasPrefix("not_cns_certificate: a"))
        #expect(CNSReason.signatureCertificate.rawValue == "signature_certificate")
        #expect(CNSProfile.standard.policyOIDs == ["1.3.76.16.2.1", "1.3.159.6.1.3.2.10", "1.3.76.12.1.1.10.2.2.10"])
        #expect(CNSProfile.standard.allowCNSLike == false)
    }

    @Test("a rejection names the card it recognised, so the page can speak of it")
    func rejectionKinds() throws {
        func kind(_ input: EvaluatorCase.Input, _ profile: CNSProfile = .standard) throws -> CardKind?? {
            guard case .certificate(let spec) = input else { return nil }
            guard case .failure(let rejection) = CNSEvaluator.evaluate(leafDER: try spec.derBytes(), profile: profile) else { return nil }
            return .some(rejection.kind)
        }
        #expect(try kind(cie(), cnsOnly) == .some(.cie))
        #expect(try kind(cie { $0.subject[3] = .commonName("RSSMRA80A01H501X/004400123456") }) == .some(.cie))
        #expect(try kind(spec { _ in }, cieOnly) == .some(.cns))
        #expect(try kind(spec { $0.subject = [.country("IT"), .commonName("RSSMRA80A01H501X/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=")] })
                == .some(.cns))
        // Not recognised as either card: no kind.
        #expect(try kind(spec { $0.policies = ["2.23.140.1.2.1"] }) == .some(nil))
        #expect(try kind(spec { $0.policies = ["2.23.140.1.2.1"] }, cieOnly) == .some(nil))
        #expect(try detailOf(cie(), cnsOnly).contains("cie is off"))
    }

    private func detailOf(_ input: EvaluatorCase.Input, _ profile: CNSProfile) throws -> String {
        guard case .certificate(let spec) = input,
              case .failure(let rejection) = CNSEvaluator.evaluate(leafDER: try spec.derBytes(), profile: profile) else { return "accepted" }
        return rejection.detail
    }

    @Test("the rejection detail says which rule failed")
    func details() throws {
        func detail(_ change: (inout LeafSpec) -> Void, _ profile: CNSProfile = .standard) throws -> String {
            var spec = LeafSpec()
            change(&spec)
            guard case .failure(let rejection) = CNSEvaluator.evaluate(leafDER: try spec.derBytes(), profile: profile) else {
                return "accepted"
            }
            return rejection.detail
        }
        #expect(try detail { $0.policies = ["2.23.140.1.2.1"] }.contains("2.23.140.1.2.1"))
        #expect(try detail { $0.keyUsage = KeyUsage(nonRepudiation: true) }.contains("signature certificate"))
        #expect(try detail { $0.subject = [.commonName("RSSMRA80A01H501X/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=")] }.contains("checkCharacter"))
        #expect(try detail({ $0.subject = [.commonName("x")] }, cnsLike).contains("not CNS-like either"))
    }
}
