import CNS
import Foundation
import Testing

/// 2025-06-01T00:00:00Z: a fixed "today" so that the century rule gives the same answer every run.
let fixedToday = Date(timeIntervalSince1970: 1_748_736_000)

@Suite("Codice Fiscale: examples and rules")
struct CodiceFiscaleTests {
    static let examples = ["RSSMRA80A01H501U", "RCCMNL83S18D969H", "BNCLRA85T41F205Y", "VRDGPP70L10L219P"]

    @Test("the CNS.md examples are valid personal codes", arguments: examples)
    func examplesAreValid(_ code: String) throws {
        let codiceFiscale = try CodiceFiscale(code)
        #expect(codiceFiscale.value == code)
        #expect(codiceFiscale.kind == .personal)
        #expect(codiceFiscale.isOmocode == false)
        #expect(CodiceFiscale.checkCharacter(forFirst15: String(code.prefix(15))) == code.last)
    }

    @Test("the examples decode to their birth data, and make rebuilds them")
    func examplesDecodeAndRebuild() throws {
        let rows: [(code: String, surname: String, name: String, date: (Int, Int, Int), sex: CodiceFiscale.Sex, place: String)] = [
            ("RSSMRA80A01H501U", "Rossi", "Mario", (1980, 1, 1), .male, "H501"),
            ("RCCMNL83S18D969H", "Ricci", "Emanuele", (1983, 11, 18), .male, "D969"),
            ("BNCLRA85T41F205Y", "Bianchi", "Laura", (1985, 12, 1), .female, "F205"),
            ("VRDGPP70L10L219P", "Verdi", "Giuseppe", (1970, 7, 10), .male, "L219"),
        ]
        for row in rows {
            let codiceFiscale = try CodiceFiscale(row.code)
            let date = try #require(codiceFiscale.birthDate(relativeTo: fixedToday))
            #expect(date == row.date, "\(row.code)")
            #expect(codiceFiscale.sex == row.sex, "\(row.code)")
            #expect(codiceFiscale.placeCode == row.place, "\(row.code)")
            let made = CodiceFiscale.make(
                surname: row.surname, name: row.name, year: row.date.0, month: row.date.1, day: row.date.2,
                sex: row.sex, placeCode: row.place)
            #expect(made == codiceFiscale, "\(row.code)")
        }
    }

    @Test("the omocodia chain: all valid, same birth data and place, all distinct identities")
    func omocodiaChain() throws {
        let chain = ["RSSMRA80A01H501U", "RSSMRA80A01H50MM", "RSSMRA80A01H5LMX", "RSSMRA80A01HRLMS"]
        let codes = try chain.map { try CodiceFiscale($0) }
        for (index, codiceFiscale) in codes.enumerated() {
            #expect(codiceFiscale.value == chain[index])
            #expect(codiceFiscale.isOmocode == (index > 0))
            #expect(codiceFiscale.birthDate(relativeTo: fixedToday)! == (1980, 1, 1))
            #expect(codiceFiscale.placeCode == "H501")
            #expect(codiceFiscale.sex == .male)
        }
        #expect(Set(codes).count == chain.count, "an omocode is a different person")
    }

    @Test("the chain follows the substitution order 15, 14, 13 with recomputed check letters")
    func omocodiaChainIsDerivable() {
        // Replace the digit at each position (rightmost first) by its omocodia letter.
        let letters = Array("LMNPQRSTUV")
        var first15 = Array("RSSMRA80A01H501")
        var derived: [String] = []
        for position in [14, 13, 12] {
            first15[position] = letters[first15[position].wholeNumberValue!]
            let check = CodiceFiscale.checkCharacter(forFirst15: String(first15))!
            derived.append(String(first15) + String(check))
        }
        #expect(derived == ["RSSMRA80A01H50MM", "RSSMRA80A01H5LMX", "RSSMRA80A01HRLMS"])
    }

    @Test("normalisation: surrounding whitespace trimmed, ASCII letters uppercased")
    func normalisation() throws {
        let codiceFiscale = try CodiceFiscale("  rssmra80a01h501u\n")
        #expect(codiceFiscale.value == "RSSMRA80A01H501U")
        #expect(codiceFiscale == (try CodiceFiscale("RSSMRA80A01H501U")))
        #expect(codiceFiscale.description == "RSSMRA80A01H501U")
    }

    @Test("a look-alike that only Unicode case mapping would turn into a valid code is rejected")
    func unicodeLookAlikes() {
        // U+0131 dotless i and U+017F long s uppercase to I and S.
        #expect(throws: CodiceFiscaleError(code: .characters, reason: "")) { try CodiceFiscale("RſSMRA80A01H501U") }
        #expect(throws: CodiceFiscaleError(code: .characters, reason: "")) { try CodiceFiscale("BNCLRA85T41F205Y".replacingOccurrences(of: "Y", with: "Ÿ")) }
        #expect(CodiceFiscale.isValid("RSSMRA80A01H50ı1") == false)
    }

    @Test(
        "each error code is produced by the input that breaks its rule",
        arguments: [
            ("RSSMRA80A01H501", CodiceFiscaleError.Code.length),
            ("RSSMRA80A01H501UX", .length),
            ("", .length),
            ("RSSMRA80A01H501-", .characters),
            ("R5SMRA80A01H501U", .characters),
            ("RSSMRA80A01H5012", .characters),
            ("0335852096A", .characters),
            ("RSSMRA80Z01H501U", .month),
            ("RSSMRA80101H501U", .month),
            ("RSSMRA80A32H501U", .day),
            ("RSSMRA80A00H501U", .day),
            ("RSSMRA80A72H501U", .day),
            ("RSSMRA80A35H501U", .day),
            ("RSSMRA80B30H501U", .day),
            ("RSSMRA81B29H501U", .day),
            ("RSSMRA80D31H501U", .day),
            ("RSSMRA80A011501U", .place),
            ("RSSMRA8AA01H501U", .omocodia),
            ("RSSMRA80A01H5W1U", .omocodia),
            ("RSSMRA80A01H501A", .checkCharacter),
            ("RSSMRA80A01H50MU", .checkCharacter),
            ("03358520968", .numericCheckDigit),
        ])
    func errorCodes(_ input: String, _ code: CodiceFiscaleError.Code) {
        #expect(throws: CodiceFiscaleError(code: code, reason: "")) { try CodiceFiscale(input) }
    }

    @Test("29 February: allowed when the two-digit year can be a leap year")
    func leapDay() throws {
        // 80 is a leap year in both centuries; 00 is a leap year in 2000 only.
        let leap80 = CodiceFiscale.make(surname: "Rossi", name: "Mario", year: 1980, month: 2, day: 29, sex: .male, placeCode: "H501")
        #expect(leap80.birthDate(relativeTo: fixedToday)! == (1980, 2, 29))
        let leap00 = CodiceFiscale.make(surname: "Rossi", name: "Maria", year: 2000, month: 2, day: 29, sex: .female, placeCode: "H501")
        #expect(leap00.birthDate(relativeTo: fixedToday)! == (2000, 2, 29))
    }

    @Test("century rule: the latest year whose date is not after today")
    func centuryRule() throws {
        let today = fixedToday  // 2025-06-01
        func year(_ yy: Int, _ month: Int) -> Int? {
            CodiceFiscale.make(surname: "Rossi", name: "Mario", year: 2000 + yy, month: month, day: 1, sex: .male, placeCode: "H501")
                .birthDate(relativeTo: today)?.year
        }
        #expect(year(80, 1) == 1980)
        #expect(year(24, 1) == 2024)
        #expect(year(25, 1) == 2025)
        #expect(year(25, 6) == 2025)  // 2025-06-01 is today: not in the future
        #expect(year(25, 7) == 1925)
        #expect(year(0, 1) == 2000)
        // Same code, a "today" in 1999: 00 is then 1900.
        let codiceFiscale = CodiceFiscale.make(surname: "Rossi", name: "Mario", year: 2000, month: 1, day: 1, sex: .male, placeCode: "H501")
        #expect(codiceFiscale.birthDate(relativeTo: Date(timeIntervalSince1970: 946_000_000))!.year == 1900)
    }

    @Test("name rules: consonants, vowels, X padding, 1st/3rd/4th consonant of a long name")
    func nameRules() {
        func letters(_ surname: String, _ name: String) -> String {
            String(CodiceFiscale.make(surname: surname, name: name, year: 1990, month: 5, day: 17, sex: .male, placeCode: "F205").value.prefix(6))
        }
        #expect(letters("Rossi", "Mario") == "RSSMRA")
        #expect(letters("Fo", "Al") == "FOXLAX")  // short: vowels, then X
        #expect(letters("Re", "Ugo") == "REXGUO")
        #expect(letters("Bianchi", "Gianfranco") == "BNCGFR")  // G N F R N C: 1st, 3rd, 4th
        #expect(letters("D'Angelo", "Niccolò") == "DNGNCL")  // apostrophe dropped, accent stripped
        #expect(letters("De Luca", "Anna Maria") == "DLCNMR")  // spaces dropped; N N M R: 1st, 3rd, 4th
        #expect(letters("Ñañez", "Zoë") == "NNZZOE")
        #expect(letters("Au", "Ai") == "AUXAIX")
    }

    @Test("make: women's day + 40, place code uppercased, result is canonical")
    func makeDetails() {
        let codiceFiscale = CodiceFiscale.make(surname: "Bianchi", name: "Laura", year: 1985, month: 12, day: 1, sex: .female, placeCode: "f205")
        #expect(codiceFiscale.value == "BNCLRA85T41F205Y")
        #expect(codiceFiscale.sex == .female)
        #expect(codiceFiscale.isOmocode == false)
        let abroad = CodiceFiscale.make(surname: "Muller", name: "Hans", year: 1975, month: 3, day: 9, sex: .male, placeCode: "Z112")
        #expect(abroad.placeCode == "Z112")
        #expect(abroad.value.hasPrefix("MLLHNS75C09Z112"))
    }

    @Test("checkCharacter(forFirst15:) rejects what is not 15 letters and digits")
    func checkCharacterInput() {
        #expect(CodiceFiscale.checkCharacter(forFirst15: "RSSMRA80A01H501") == "U")
        #expect(CodiceFiscale.checkCharacter(forFirst15: "rssmra80a01h501") == "U")
        #expect(CodiceFiscale.checkCharacter(forFirst15: "RSSMRA80A01H50") == nil)
        #expect(CodiceFiscale.checkCharacter(forFirst15: "RSSMRA80A01H50-") == nil)
        #expect(CodiceFiscale.checkCharacter(forFirst15: "RSSMRA80A01H50È") == nil)
    }

    @Test("errors compare by code only and keep their reason and throw site")
    func errorEquality() {
        do {
            _ = try CodiceFiscale("RSSMRA80A01H501A")
            Issue.record("accepted a wrong check letter")
        } catch {
            #expect(error.code == .checkCharacter)
            #expect(error.reason.contains("expected U"))
            #expect(error.fileID.hasPrefix("CNS/"))
            #expect(error == CodiceFiscaleError(code: .checkCharacter, reason: "something else"))
            #expect(error != CodiceFiscaleError(code: .day, reason: error.reason))
        }
    }
}

@Suite("Codice Fiscale: numeric form")
struct NumericCodiceFiscaleTests {
    @Test("03358520967 is valid and has no personal data")
    func valid() throws {
        let codiceFiscale = try CodiceFiscale("03358520967")
        #expect(codiceFiscale.kind == .numeric)
        #expect(codiceFiscale.sex == nil)
        #expect(codiceFiscale.placeCode == nil)
        #expect(codiceFiscale.birthDate(relativeTo: fixedToday) == nil)
        #expect(codiceFiscale.isOmocode == false)
    }

    @Test("every single-digit change of 03358520967 is rejected")
    func singleDigitChanges() {
        let digits = Array("03358520967")
        var tried = 0
        for position in digits.indices {
            for replacement in "0123456789" where replacement != digits[position] {
                var changed = digits
                changed[position] = replacement
                tried += 1
                #expect(CodiceFiscale.isValid(String(changed)) == false, "\(String(changed))")
            }
        }
        #expect(tried == 11 * 9)
    }
}
