import Testing
import VirtualCard
@testable import SmartCard

/// Issue 15, item 10: a PIN or PUK lives in one buffer, goes to the card from the one command
/// buffer it was copied into, and both are zero once the command has been sent. The tests look
/// at the memory itself after use, not at what the API promises.
@Suite struct SecretWipeTests {
    /// Sees the command buffer the card layer hands over, and what was in it while it was lent.
    final class InspectingTransport: APDUTransport {
        let card: CNSCardEmulator
        var lent: [(base: UnsafeRawPointer?, count: Int)] = []
        var contents: [[UInt8]] = []

        init(_ card: CNSCardEmulator) { self.card = card }

        func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8] {
            lent.append((command.baseAddress, command.count))
            contents.append(Array(command))
            return try card.transmit(command)
        }
    }

    static func allZero(_ bytes: UnsafeRawBufferPointer) -> Bool { bytes.allSatisfy { $0 == 0 } }

    /// The command went out from the card's own command buffer (no copy on the way), and that
    /// buffer holds nothing now.
    func expectSentFromTheCommandBufferAndWiped(_ card: CNSCard, _ transport: InspectingTransport, length: Int) {
        let buffer = UnsafeRawBufferPointer(card.secretCommand)
        #expect(transport.lent.last?.base == buffer.baseAddress, "the command was not sent from the buffer that gets wiped")
        #expect(transport.lent.last?.count == length)
        #expect(Self.allZero(buffer), "the command buffer still holds \(Array(buffer))")
    }

    @Test func verifyWipesThePINAndTheCommand() throws {
        let test = try TestCard()
        let transport = InspectingTransport(test.emulator)
        let card = CNSCard(transport: transport, atr: test.emulator.atr)
        let secret = try pin(TestCard.pin)
        #expect(secret.withStorage { !Self.allZero($0) })
        try card.verify(pin: secret)
        // The card got the PIN ...
        #expect(transport.contents.last == [0x00, 0x20, 0x00, card.pinReference, 0x08] + Array(TestCard.pin.utf8) + [0xFF, 0xFF, 0xFF])
        // ... and no byte of it is left on our side.
        #expect(secret.isWiped)
        #expect(secret.withStorage { Self.allZero($0) }, "the PIN buffer still holds \(secret.withStorage { Array($0) })")
        expectSentFromTheCommandBufferAndWiped(card, transport, length: 13)
    }

    @Test func aWrongPINAndAFailedTransportAreWipedToo() throws {
        let test = try TestCard()
        let transport = InspectingTransport(test.emulator)
        let card = CNSCard(transport: transport, atr: test.emulator.atr)
        let wrong = try pin("99999")
        #expect(throws: SmartCardError(.wrongPIN(triesLeft: 2), "")) { try card.verify(pin: wrong) }
        #expect(wrong.withStorage { Self.allZero($0) })
        expectSentFromTheCommandBufferAndWiped(card, transport, length: 13)

        final class Broken: APDUTransport {
            func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8] {
                throw SmartCardError(.pcsc(0x8010_0069), "card removed")
            }
        }
        let broken = CNSCard(transport: Broken(), atr: test.emulator.atr)
        let secret = try pin(TestCard.pin)
        #expect(throws: SmartCardError(.pcsc(0x8010_0069), "")) { try broken.verify(pin: secret) }
        #expect(secret.withStorage { Self.allZero($0) })
        #expect(Self.allZero(UnsafeRawBufferPointer(broken.secretCommand)))
    }

    @Test func changeAndUnblockWipeBothSecretsAndTheCommand() throws {
        let test = try TestCard()
        let transport = InspectingTransport(test.emulator)
        let card = CNSCard(transport: transport, atr: test.emulator.atr)
        let old = try pin(TestCard.pin), new = try pin("24680")
        try card.changePIN(old: old, new: new)
        #expect(old.withStorage { Self.allZero($0) } && new.withStorage { Self.allZero($0) })
        expectSentFromTheCommandBufferAndWiped(card, transport, length: 21)

        let unblockPUK = try puk(TestCard.puk), newer = try pin("13579")
        try card.unblockPIN(puk: unblockPUK, newPIN: newer)
        #expect(unblockPUK.withStorage { Self.allZero($0) } && newer.withStorage { Self.allZero($0) })
        expectSentFromTheCommandBufferAndWiped(card, transport, length: 21)
        try card.verify(pin: pin("13579"))
    }

    /// A secret read from input goes straight into its buffer; a refused one is wiped there.
    @Test func aSecretIsReadIntoItsOwnBufferAndARefusedOneIsWiped() throws {
        var offered: UnsafeMutableRawBufferPointer?
        let secret = try CardSecret(kind: .pin) { buffer in
            offered = buffer
            buffer.copyBytes(from: Array("2468".utf8) + [UInt8(ascii: "0")])
            return 5
        }
        #expect(secret.withStorage { $0.baseAddress } == offered.map { UnsafeRawPointer($0.baseAddress) })
        #expect(secret.matches(padded: Array("24680".utf8) + [0xFF, 0xFF, 0xFF]))
        secret.wipe()
        #expect(secret.withStorage { Self.allZero($0) } && !secret.matches(padded: Array("24680".utf8) + [0xFF, 0xFF, 0xFF]))

        // Too long: refused by its length, and what was read is not left behind.
        #expect(throws: SmartCardError(.invalidPINFormat, "")) {
            _ = try CardSecret(kind: .pin) { buffer in
                buffer.copyBytes(from: Array("123456789".utf8))
                return 12
            }
        }
    }
}
