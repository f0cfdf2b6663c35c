import SmartCard
import Testing

@Suite struct APDUTests {
    @Test func encodesTheFourShortCases() throws {
        #expect(try CommandAPDU(ins: 0x84, p1: 0, p2: 0).encoded() == [0x00, 0x84, 0x00, 0x00])
        #expect(try CommandAPDU(ins: 0xB0, p1: 0x01, p2: 0x02, le: 256).encoded() == [0x00, 0xB0, 0x01, 0x02, 0x00])
        #expect(try CommandAPDU(ins: 0xA4, p1: 0x08, p2: 0x0C, data: [0x10, 0x00, 0x10, 0x03]).encoded()
                == [0x00, 0xA4, 0x08, 0x0C, 0x04, 0x10, 0x00, 0x10, 0x03])
        #expect(try CommandAPDU(ins: 0xA4, p1: 0x08, p2: 0x00, data: [0x10, 0x00], le: 256).encoded()
                == [0x00, 0xA4, 0x08, 0x00, 0x02, 0x10, 0x00, 0x00])
    }

    @Test func encodesExtendedWhenDataIsLong() throws {
        let command = CommandAPDU(ins: 0x2A, p1: 0x9E, p2: 0x9A, data: [UInt8](repeating: 1, count: 300), le: 512)
        let bytes = try command.encoded()
        #expect(Array(bytes.prefix(7)) == [0x00, 0x2A, 0x9E, 0x9A, 0x00, 0x01, 0x2C])
        #expect(Array(bytes.suffix(2)) == [0x02, 0x00])
        #expect(try CommandAPDU(parsing: bytes) == command)
    }

    @Test func parsesWhatItEncodes() throws {
        for command in [
            CommandAPDU(ins: 0x20, p1: 0, p2: 0x10),
            CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 255),
            CommandAPDU(ins: 0x20, p1: 0, p2: 0x10, data: [0x31, 0x32, 0x33, 0x34, 0x35, 0xFF, 0xFF, 0xFF]),
            CommandAPDU(ins: 0x2A, p1: 0x9E, p2: 0x9A, data: [UInt8](repeating: 7, count: 128), le: 256),
            CommandAPDU(ins: 0xB0, p1: 0, p2: 0, le: 65536),
        ] {
            #expect(try CommandAPDU(parsing: command.encoded()) == command)
        }
    }

    @Test func rejectsInconsistentLengths() {
        #expect(throws: SmartCardError(.malformedCommand, "")) { try CommandAPDU(parsing: [0x00, 0xA4]) }
        #expect(throws: SmartCardError(.malformedCommand, "")) { try CommandAPDU(parsing: [0x00, 0xA4, 0x08, 0x00, 0x05, 0x10]) }
        #expect(throws: SmartCardError(.malformedCommand, "")) { try CommandAPDU(parsing: [0x00, 0xA4, 0x08, 0x00, 0x00, 0x00]) }
    }

    @Test func splitsResponses() throws {
        let response = try ResponseAPDU(parsing: [0x01, 0x02, 0x90, 0x00])
        #expect(response.data == [0x01, 0x02])
        #expect(response.sw == 0x9000)
        #expect(response.isSuccess)
        #expect(try ResponseAPDU(parsing: [0x63, 0xC2]).sw == 0x63C2)
        #expect(throws: SmartCardError(.malformedResponse, "")) { try ResponseAPDU(parsing: [0x90]) }
        #expect(throws: SmartCardError(.malformedResponse, "")) { try ResponseAPDU(parsing: []) }
    }

    @Test func fciGivesTheFileSize() throws {
        let fci = try FileControlInformation(parsing: [0x6F, 0x0B, 0x80, 0x02, 0x05, 0x52, 0x82, 0x01, 0x01, 0x83, 0x02, 0x11, 0x01])
        #expect(fci?.size == 0x0552)
        #expect(fci?.fileID == 0x1101)
        #expect(fci?.isDirectory == false)
        #expect(try FileControlInformation(parsing: []) == nil)
        #expect(throws: SmartCardError(.malformedResponse, "")) { try FileControlInformation(parsing: [0x6F, 0x10, 0x80]) }
    }

    @Test func errorsCompareByCodeAndNameTheirCode() {
        #expect(SmartCardError(.pcsc(0x8010_000C), "a") == SmartCardError(.pcsc(0x8010_000C), "b"))
        #expect(SmartCardError(.pcsc(0x8010_000C), "a") != SmartCardError(.pcsc(0x8010_0069), "a"))
        #expect(SmartCardError.Code.pcsc(0x8010_000C).description == "pcsc_0x8010000C")
        #expect(SmartCardError.Code.wrongPIN(triesLeft: 2).description == "wrong_pin")
    }

    @Test func secretsArePaddedAndNeverPrinted() throws {
        let pin = try CardSecret("12345", kind: .pin)
        #expect(pin.matches(padded: [0x31, 0x32, 0x33, 0x34, 0x35, 0xFF, 0xFF, 0xFF]))
        #expect(!pin.matches(padded: [0x31, 0x32, 0x33, 0x34, 0x35, 0xFF, 0xFF, 0x00]))
        #expect("\(pin)" == "<PIN redacted>")
        #expect(String(reflecting: pin) == "<PIN redacted>")
        #expect(!"\(pin)".contains("12345"))
        for bad in ["1234", "123456789", "12a45", "", "12 45"] {
            #expect(throws: SmartCardError(.invalidPINFormat, "")) { try CardSecret(bad, kind: .pin) }
        }
    }
}
