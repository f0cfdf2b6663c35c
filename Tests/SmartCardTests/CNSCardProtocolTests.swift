import SmartCard
import Testing
import VirtualCard

/// The CNS protocol against the in-memory virtual card, in T=1 style and in T=0 style
/// (61xx / 6Cxx), which must give the same results.
@Suite struct CNSCardProtocolTests {
    @Test(arguments: [false, true])
    func readsTheFiles(t0: Bool) throws {
        let test = try TestCard(t0: t0)
        #expect(try test.card.readCardID() == TestCard.cardID)
        #expect(try test.card.readPersonalData() == TestCard.personal)
        #expect(try test.card.readCertificate() == TestCard.certificate)
    }

    @Test func t0ConventionsAreReallyUsed() throws {
        let test = try TestCard(t0: true)
        let recorder = RecordingTransport(test.emulator)
        let card = CNSCard(transport: recorder, atr: test.emulator.atr)
        #expect(try card.readCertificate() == TestCard.certificate)
        #expect(recorder.responses.contains { $0.count == 2 && $0[0] == 0x61 })
        // Reading without the size asks for 255 bytes at the end of the file: 6Cxx.
        try card.select(path: CNSFile.personalData)
        #expect(try card.readBinary(size: nil) == TestCard.personal.encoded())
        #expect(recorder.responses.contains { $0.count == 2 && $0[0] == 0x6C })
        #expect(recorder.commands.contains { $0[1] == 0xC0 })
    }

    @Test func selectsLevelByLevel() throws {
        let test = try TestCard()
        let info = try test.card.selectByLevels(path: CNSFile.cardID)
        #expect(info?.size == 16)
        #expect(try test.card.readBinary(size: info?.size) == Array(TestCard.cardID.utf8))
        #expect(throws: SmartCardError(.fileNotFound, "")) { try test.card.select(path: [0x3F00, 0x1100, 0x1199]) }
    }

    @Test func readsWithoutKnowingTheSize() throws {
        let test = try TestCard()
        try test.card.select(path: CNSFile.personalData)
        #expect(try test.card.readBinary(size: nil) == TestCard.personal.encoded())
    }

    @Test func answersTheSelectOpenSCSends() throws {
        // OpenSC's itacns driver: 00 A4 08 0C 04 10 00 10 03 (no FCI), then READ BINARY.
        let test = try TestCard()
        #expect(test.emulator.process([0x00, 0xA4, 0x08, 0x0C, 0x04, 0x10, 0x00, 0x10, 0x03]) == [0x90, 0x00])
        #expect(test.emulator.process([0x00, 0xB0, 0x00, 0x00, 0x00]) == Array(TestCard.cardID.utf8) + [0x90, 0x00])
        #expect(test.emulator.process([0x00, 0xB0, 0x00, 0x20, 0x10]) == [0x6B, 0x00])
    }

    @Test func stIncardCardsGetTheBacktrackingPINReference() throws {
        #expect(try TestCard(maskManufacturer: 0x09).card.pinReference == 0x90)
        #expect(try TestCard(maskManufacturer: 0x05).card.pinReference == 0x10)
    }

    @Test func threeWrongPINsBlockAndThePUKUnblocks() throws {
        let test = try TestCard()
        for left in [2, 1, 0] {
            #expect(throws: SmartCardError(.wrongPIN(triesLeft: left), "")) { try test.card.verify(pin: pin("99999")) }
        }
        #expect(throws: SmartCardError(.pinBlocked, "")) { try test.card.verify(pin: pin(TestCard.pin)) }
        #expect(throws: SmartCardError(.wrongPUK(triesLeft: 9), "")) {
            try test.card.unblockPIN(puk: puk("11111111"), newPIN: pin("24680"))
        }
        try test.card.unblockPIN(puk: puk(TestCard.puk), newPIN: pin("24680"))
        #expect(test.emulator.pukRetriesRemaining == 10)
        #expect(test.emulator.pinRetriesRemaining == 3)
        #expect(throws: SmartCardError(.wrongPIN(triesLeft: 2), "")) { try test.card.verify(pin: pin(TestCard.pin)) }
        try test.card.verify(pin: pin("24680"))
        #expect(test.emulator.pinRetriesRemaining == 3)
    }

    @Test func thePUKBlocksToo() throws {
        let test = try TestCard()
        for left in stride(from: 9, through: 0, by: -1) {
            #expect(throws: SmartCardError(.wrongPUK(triesLeft: left), "")) {
                try test.card.unblockPIN(puk: puk("00000000"), newPIN: pin("24680"))
            }
        }
        #expect(throws: SmartCardError(.pukBlocked, "")) {
            try test.card.unblockPIN(puk: puk(TestCard.puk), newPIN: pin("24680"))
        }
    }

    @Test func changesThePIN() throws {
        let test = try TestCard()
        #expect(throws: SmartCardError(.wrongPIN(triesLeft: 2), "")) { try test.card.changePIN(old: pin("11223344"), new: pin(TestCard.pin)) }
        try test.card.changePIN(old: pin(TestCard.pin), new: pin("11223344"))
        try test.card.verify(pin: pin("11223344"))
        #expect(throws: SmartCardError(.wrongPIN(triesLeft: 2), "")) { try test.card.verify(pin: pin(TestCard.pin)) }
    }

    @Test func anEmptyVerifyCountsNothing() throws {
        let test = try TestCard()
        #expect(test.emulator.process([0x00, 0x20, 0x00, 0x10]) == [0x63, 0xC3])
        #expect(test.emulator.pinRetriesRemaining == 3)
    }

    @Test(arguments: [false, true])
    func signsPKCS1AndPSSBlocksTheHostPadded(t0: Bool) throws {
        let test = try TestCard(t0: t0, keyBits: 2048)
        let block = try SignaturePadding.pkcs1v15(digest: CardKey.sha256(Array("hello".utf8)), algorithm: .sha256, modulusLength: 256)
        #expect(throws: SmartCardError(.securityStatusNotSatisfied, "")) { try test.card.signRaw(block) }
        try test.card.verify(pin: CardSecret(TestCard.pin, kind: .pin))
        let digest = CardKey.sha256(Array("hello".utf8))
        let signature = try test.card.signRaw(block)
        #expect(test.key.verify(signature: signature, sha256Digest: digest, scheme: .pkcs1v15))

        var generator = SplitMix64(seed: 42)
        let salt = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let pssBlock = try SignaturePadding.pss(digest: digest, salt: salt, modulusBits: 2048, hash: CardKey.sha256)
        let pssSignature = try test.card.signRaw(pssBlock)
        #expect(test.key.verify(signature: pssSignature, sha256Digest: digest, scheme: .pss))
        #expect(!test.key.verify(signature: pssSignature, sha256Digest: CardKey.sha256([1]), scheme: .pss))
    }

    /// The virtual CIE signs what its middleware signs: PKCS#1 v1.5 blocks, never PSS.
    @Test func aPKCS1OnlyCardRefusesAPSSBlock() throws {
        let test = try TestCard(keyBits: 2048, pkcs1Only: true)
        try test.card.verify(pin: CardSecret(TestCard.pin, kind: .pin))
        let digest = CardKey.sha256(Array("hello".utf8))
        let block = try SignaturePadding.pkcs1v15(digest: digest, algorithm: .sha256, modulusLength: 256)
        #expect(test.key.verify(signature: try test.card.signRaw(block), sha256Digest: digest, scheme: .pkcs1v15))
        var generator = SplitMix64(seed: 7)
        let salt = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let pssBlock = try SignaturePadding.pss(digest: digest, salt: salt, modulusBits: 2048, hash: CardKey.sha256)
        #expect(throws: SmartCardError(.unexpectedStatus(0x6A80), "")) { try test.card.signRaw(pssBlock) }
        // A raw block that merely starts like PKCS#1 but is not padded as it is.
        var short = block
        short[5] = 0x00
        #expect(throws: SmartCardError(.unexpectedStatus(0x6A80), "")) { try test.card.signRaw(short) }
    }

    @Test func aResetForgetsThePIN() throws {
        let test = try TestCard(keyBits: 1024)
        try test.card.verify(pin: CardSecret(TestCard.pin, kind: .pin))
        test.emulator.reset()
        let block = try SignaturePadding.pkcs1v15(digest: CardKey.sha256([]), algorithm: .sha256, modulusLength: 128)
        #expect(throws: SmartCardError(.securityStatusNotSatisfied, "")) { try test.card.signRaw(block) }
    }
}
