import SmartCard
import Testing

/// Property tests for the pure parsers a card (or an attacker posing as one) feeds:
/// 100,000+ inputs each from a fixed-seed generator. No input may trap; every failure is the
/// parser's own typed error; what parses must be consistent.
@Suite struct ParserPropertyTests {
    static let iterations = 100_000

    static func randomBytes(_ generator: inout SplitMix64, maxLength: Int) -> [UInt8] {
        let length = Int.random(in: 0...maxLength, using: &generator)
        return (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Random text over the characters a personal data file holds, Latin-1 included.
    static func randomField(_ generator: inout SplitMix64) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '.,/-ÀÈÉÌÒÙ")
        let length = Int.random(in: 0...(Bool.random(using: &generator) ? 12 : 255), using: &generator)
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    @Test func personalDataParserSurvivesRandomBytes() {
        var generator = SplitMix64(seed: 0xC45_0001)
        var parsed = 0
        for _ in 0..<Self.iterations {
            var bytes = Self.randomBytes(&generator, maxLength: 400)
            // Half the time give it a plausible header so the field loop is reached.
            if Bool.random(using: &generator), bytes.count > 6 {
                let declared = Int.random(in: 0...(bytes.count - 6), using: &generator)
                let header = Array(sixHexDigits(declared).utf8)
                bytes.replaceSubrange(0..<6, with: header)
            }
            do {
                let data = try PersonalData(parsing: bytes)
                parsed += 1
                #expect(!data.codiceFiscale.unicodeScalars.contains { $0.value > 255 })
            } catch {
                #expect(error.code == .malformedPersonalData)
            }
        }
        _ = parsed
    }

    @Test func personalDataMutationsParseOrFailCleanly() {
        var generator = SplitMix64(seed: 0xC45_0002)
        for _ in 0..<Self.iterations {
            let fields = (0..<15).map { _ in Self.randomField(&generator) }
            let original = PersonalData(issuerCode: fields[0], issueDate: fields[1], expiryDate: fields[2],
                                        surname: fields[3], givenName: fields[4], birthDate: fields[5], sex: fields[6],
                                        height: fields[7], codiceFiscale: fields[8], citizenship: fields[9],
                                        birthMunicipality: fields[10], birthCountry: fields[11], birthRecord: fields[12],
                                        residenceMunicipality: fields[13], residenceAddress: fields[14])
            var bytes = original.encoded()
            // Round trip first, then damage one to three bytes.
            #expect((try? PersonalData(parsing: bytes)) == original)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            do {
                _ = try PersonalData(parsing: bytes)
            } catch {
                #expect(error.code == .malformedPersonalData)
            }
        }
    }

    @Test func responseParserSurvivesRandomBytes() {
        var generator = SplitMix64(seed: 0xC45_0003)
        for _ in 0..<Self.iterations {
            let bytes = Self.randomBytes(&generator, maxLength: 300)
            do {
                let response = try ResponseAPDU(parsing: bytes)
                #expect(response.data.count == bytes.count - 2)
                #expect(response.encoded == bytes)
            } catch {
                #expect(bytes.count < 2)
                #expect(error.code == .malformedResponse)
            }
        }
    }

    @Test func commandAndFCIParsersSurviveRandomBytes() {
        var generator = SplitMix64(seed: 0xC45_0004)
        for _ in 0..<Self.iterations {
            var bytes = Self.randomBytes(&generator, maxLength: 300)
            if Bool.random(using: &generator), bytes.count > 2 { bytes[0] = Bool.random(using: &generator) ? 0x62 : 0x6F }
            if let command = try? CommandAPDU(parsing: bytes) {
                // Whatever parses encodes to an APDU that parses to the same thing.
                if let encoded = try? command.encoded() { #expect((try? CommandAPDU(parsing: encoded)) == command) }
            }
            do {
                _ = try FileControlInformation(parsing: bytes)
            } catch {
                #expect(error.code == .malformedResponse)
            }
            do {
                _ = try ATR(Array(bytes.prefix(33)))
            } catch {
                #expect(error.code == .malformedATR)
            }
            #expect(CNSCard.derElementLength(bytes).map { $0 <= bytes.count } ?? true)
        }
    }
}

/// Six upper-case hex digits, the EF_DatiPersonali length header.
func sixHexDigits(_ value: Int) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 6 - hex.count)) + hex
}
