import SmartCard
import Testing
import VirtualCard

@Suite struct ATRTests {
    /// A real TS-CNS card's ATR (CNS.md section 5).
    static let real: [UInt8] = [0x3B, 0xFF, 0x18, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x55, 0x00, 0x6B, 0x02, 0x09, 0x03,
                                0x03, 0x01, 0x01, 0x01, 0x43, 0x4E, 0x53, 0x10, 0x31, 0x80, 0x9D]

    @Test func decodesARealCNSCard() throws {
        let atr = try ATR(Self.real)
        #expect(atr.protocols == [1])
        #expect(atr.historicalBytes.count == 15)
        #expect(atr.checkByteValid)
        let type = try #require(CNSCardType(atr: atr))
        #expect(type.versionString == "1.0")
        #expect(type.icManufacturer == "STMicroelectronics")
        #expect(type.maskManufacturer == "STIncard")
        #expect(type.pinReferenceFlag == 0x80)
    }

    @Test func theVirtualCardAnswersLikeTheRealOne() throws {
        #expect(VirtualCardProfile.defaultATR() == Self.real)
        let v11 = try ATR(VirtualCardProfile.defaultATR(version: 0x11, maskManufacturer: 0x05))
        let type = try #require(CNSCardType(atr: v11))
        #expect(type.versionString == "1.1")
        #expect(type.maskManufacturer == "Oberthur Card Systems")
        #expect(type.pinReferenceFlag == 0)
        #expect(v11.checkByteValid)
    }

    @Test func otherCardsAreNotCNS() throws {
        // A T=0 card with no CNS historical bytes (and so no TCK).
        let other = try ATR([0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A])
        #expect(CNSCardType(atr: other) == nil)
        let plain = try ATR([0x3B, 0x02, 0x14, 0x50])
        #expect(plain.protocols == [0])
        #expect(plain.checkByte == nil)
    }

    @Test func rejectsMalformedATRs() throws {
        #expect(throws: SmartCardError(.malformedATR, "")) { try ATR([0x3B]) }
        #expect(throws: SmartCardError(.malformedATR, "")) { try ATR([0x12, 0x00]) }
        #expect(throws: SmartCardError(.malformedATR, "")) { try ATR(Array(Self.real.dropLast())) }
        #expect(throws: SmartCardError(.malformedATR, "")) { try ATR(Array(Self.real.prefix(8))) }
        var badCheck = Self.real
        badCheck[badCheck.count - 1] ^= 1
        #expect(try ATR(badCheck).checkByteValid == false)
    }
}
