import SmartCard
import Testing

@Suite struct PersonalDataTests {
    /// Built by hand from the layout in CNS.md section 5, not by our encoder.
    static let sample = Array(("000062" + "0208" + "0801012024" + "0801012030" + "05ROSSI" + "05MARIO" + "0801011980"
        + "01M" + "00" + "10RSSMRA80A01H501U" + "011" + "04H501" + "06ITALIA" + "00" + "04H501" + "00").utf8)

    @Test func parsesAFileWrittenByHand() throws {
        let data = try PersonalData(parsing: Self.sample)
        #expect(data.issuerCode == "08")
        #expect(data.surname == "ROSSI")
        #expect(data.givenName == "MARIO")
        #expect(data.birthDate == "01011980")
        #expect(data.sex == "M")
        #expect(data.height == "")
        #expect(data.codiceFiscale == "RSSMRA80A01H501U")
        #expect(data.birthMunicipality == "H501")
        #expect(data.residenceAddress == "")
        #expect(data.expatriationNotes == "")
        #expect(PersonalData.dateComponents(data.birthDate)! == (1, 1, 1980))
    }

    @Test func ignoresPaddingAfterTheDeclaredLength() throws {
        let padded = Self.sample + [UInt8](repeating: 0x00, count: 40) + [UInt8](repeating: 0xFF, count: 10)
        #expect(try PersonalData(parsing: padded) == PersonalData(parsing: Self.sample))
    }

    @Test func encodesWhatItParses() throws {
        let data = try PersonalData(parsing: Self.sample)
        #expect(try PersonalData(parsing: data.encoded()) == data)
        #expect(data.encoded() == Self.sample)
    }

    @Test func acceptsOldCardsWithoutTheTrailingFields() throws {
        let short = Array(("000047" + "0208" + "0801012024" + "0801012030" + "05ROSSI" + "05MARIO" + "0801011980"
            + "01M" + "00" + "10RSSMRA80A01H501U").utf8)
        let data = try PersonalData(parsing: short)
        #expect(data.codiceFiscale == "RSSMRA80A01H501U")
        #expect(data.residenceMunicipality == "")
    }

    @Test(arguments: [
        ("not hex header", Array("00X05B".utf8)),
        ("too short", Array("0000".utf8)),
        ("declared longer than the file", Array("0000FF0208".utf8)),
        ("field runs past the end", Array("00000405AB".utf8)),
        ("bad field length", Array("0000020G".utf8)),
        ("too few fields", Array("0000040208".utf8) + Array("08".utf8)),
    ])
    func rejectsMalformedFiles(_ name: String, _ bytes: [UInt8]) {
        #expect(throws: SmartCardError(.malformedPersonalData, ""), "\(name)") { try PersonalData(parsing: bytes) }
    }
}
