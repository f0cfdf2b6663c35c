import Foundation
import Testing
@testable import TrustList

@Suite struct ParsingTests {
    let policy = TrustListPolicy(signerFingerprints: [Fixtures.agidSigner])

    func code(_ bytes: [UInt8], policy: TrustListPolicy? = nil, sequenceInUse: Int? = nil) -> TrustListError.Code? {
        TrustListEvaluation.evaluate(bytes, policy: policy ?? self.policy, sequenceInUse: sequenceInUse).error?.code
    }

    @Test func refusesAnyDoctypeBeforeParsing() {
        let list = Fixtures.unsignedList(services: [])
        let text = String(decoding: list, as: UTF8.self)
        let withDoctype = text.replacingOccurrences(
            of: "?>\n", with: "?>\n<!DOCTYPE TrustServiceStatusList [<!ENTITY x SYSTEM \"file:///etc/hostname\">]>\n")
        #expect(code(Array(withDoctype.utf8)) == .doctype)
        let bare = text.replacingOccurrences(of: "?>\n", with: "?>\n<!DOCTYPE TrustServiceStatusList SYSTEM \"http://127.0.0.1:9/x.dtd\">\n")
        #expect(code(Array(bare.utf8)) == .doctype)
    }

    @Test func refusesWhatIsNotUTF8XML() {
        let list = Fixtures.unsignedList(services: [])
        #expect(code([0xFF, 0xFE] + list.flatMap { [$0, 0] }) == .malformed)
        let latin1 = String(decoding: list, as: UTF8.self).replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"ISO-8859-1\"")
        #expect(code(Array(latin1.utf8)) == .malformed)
        #expect(code(Array("<TrustServiceStatusList".utf8)) == .malformed)
        #expect(code([]) == .malformed)
    }

    @Test func refusesOversizedBeforeParsing() {
        var small = policy
        small.maxSize = 100
        #expect(code(Fixtures.unsignedList(services: []), policy: small) == .tooLarge)
    }

    @Test func anUnsignedListIsRefusedButStillExplained() throws {
        let a = try Fixtures.certificate("A")
        let evaluation = TrustListEvaluation.evaluate(
            Fixtures.unsignedList(sequence: 7, services: [(TrustListPolicy.identityVerification, TrustListPolicy.granted, a)]),
            policy: policy, sequenceInUse: nil)
        #expect(evaluation.error?.code == .missingSignature)
        #expect(evaluation.header?.sequenceNumber == 7)
        #expect(evaluation.header?.nextUpdate == Timestamp.parse("2030-01-01T00:00:00Z"))
        #expect(evaluation.decisions.map(\.reason) == [.selected])
        #expect(evaluation.decisions.first?.service.name == "Service")  // the English name
        #expect(evaluation.decisions.first?.service.provider == "Provider")
    }

    @Test func twoSignaturesOrOneInTheWrongPlaceAreRefused() {
        let signature = "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature>"
        #expect(code(Fixtures.unsignedList(services: [], extra: signature + signature)) == .signatureCoverage)
        let nested = Fixtures.unsignedList(services: [], extra: "<SchemeExtensions>\(signature)</SchemeExtensions>")
        #expect(code(nested) == .signatureCoverage)
        #expect(code(Fixtures.unsignedList(services: [], extra: signature)) == .signatureCoverage)
    }
}

/// The real list, when `../shared/data/tsl` is there: every verdict from the same bytes.
@Suite(.enabled(if: Fixtures.realListPresent, "../shared/data/tsl is absent"))
struct RealListTests {
    let policy = TrustListPolicy(signerFingerprints: [Fixtures.agidSigner])
    let now = Fixtures.realListCurrent

    @Test func verifiesAndSelects() throws {
        let evaluation = TrustListEvaluation.evaluate(try Fixtures.realList(), policy: policy, sequenceInUse: 223, now: now)
        let list = try evaluation.verdict.get()
        #expect(list.header.sequenceNumber == 223)
        #expect(list.header.issueDate == Timestamp.parse("2026-07-27T09:33:49Z"))
        #expect(list.header.nextUpdate == Timestamp.parse("2027-01-27T10:33:49Z"))
        #expect(list.signer.sha256 == Fixtures.agidSigner && list.signer.subject.contains("CN=AgID"))
        #expect(list.cas.count == 167)
        #expect(Set(list.cas.map(\.serviceType)) == [TrustListPolicy.identityVerification])
        #expect(list.listSHA256 == "209974ece2c641a202644eed56cffe84da20402e69276032c5c0cef464ef1b02")
        let skippedIdV = list.decisions.filter { $0.service.type == TrustListPolicy.identityVerification && !$0.taken }
        #expect(skippedIdV.filter { $0.reason == .serviceStatus }.count == 6)
        #expect(skippedIdV.filter { $0.reason == .notCACertificate }.count == 1)
    }

    @Test func refusals() throws {
        let bytes = try Fixtures.realList()
        func code(_ bytes: [UInt8], policy: TrustListPolicy? = nil, sequence: Int? = nil, at: Date? = nil) -> TrustListError.Code? {
            TrustListEvaluation.evaluate(bytes, policy: policy ?? self.policy, sequenceInUse: sequence, now: at ?? now).error?.code
        }
        #expect(code(bytes, policy: TrustListPolicy(signerFingerprints: [String(repeating: "0", count: 64)])) == .unpinnedSigner)
        #expect(code(bytes, sequence: 224) == .rollback)
        let late = Timestamp.parse("2027-02-01T00:00:00Z")!
        #expect(code(bytes, at: late) == .pastNextUpdate)
        var lenient = policy
        lenient.nextUpdateGrace = 86_400 * 7
        #expect(code(bytes, policy: lenient, at: late) == nil)
        // AgID's signing certificate expires on 2031-07-30: the signer is judged first.
        var years = policy
        years.nextUpdateGrace = 86_400 * 365 * 10
        #expect(code(bytes, policy: years, at: Timestamp.parse("2031-08-01T00:00:00Z")!) == .signerNotValid)
        var nothing = policy
        nothing.serviceTypes = ["http://uri.etsi.org/TrstSvc/Svctype/unspecified"]
        #expect(code(bytes, policy: nothing) == .emptySelection)

        var changed = bytes
        let marker = Array("Banca d'Ital".utf8)
        let at = changed.firstRange(of: marker)!.upperBound
        changed[at] = UInt8(ascii: "X")
        #expect(code(changed) == .badSignature)
        // The SignedProperties (signing time) changed: the second reference fails.
        var properties = bytes
        let time = properties.firstRange(of: Array("<xades:SigningTime>2026".utf8))!.upperBound
        properties[time] = UInt8(ascii: "7")
        #expect(code(properties) == .badSignature)
    }
}
