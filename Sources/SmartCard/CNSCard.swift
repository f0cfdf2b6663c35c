/// Where a CNS card keeps what we read (CNS.md section 5).
public enum CNSFile {
    public static let masterFile: UInt16 = 0x3F00
    /// EF_IDCarta: exactly 16 ASCII digits, the card id (also in the certificate's CN).
    public static let cardID: [UInt16] = [0x3F00, 0x1000, 0x1003]
    public static let personalData: [UInt16] = [0x3F00, 0x1100, 0x1102]
    /// The authentication certificate, DER (the file may be longer than the certificate).
    public static let authenticationCertificate: [UInt16] = [0x3F00, 0x1100, 0x1101]
    public static let publicKey: [UInt16] = [0x3F00, 0x3F01]
}

/// The CNS card protocol over any transport: SELECT, READ BINARY, the PIN commands and the
/// signature. Every method is one card conversation; wrap several in a PC/SC transaction
/// (`CardConnection.withTransaction`) when they must not be interleaved with another application.
public final class CNSCard {
    public let channel: CardChannel
    public let cardType: CNSCardType?
    /// The PIN's reference data number (0x10), with 0x80 on STIncard masks as OpenSC does.
    public var pinReference: UInt8 { 0x10 | (cardType?.pinReferenceFlag ?? 0) }
    /// READ BINARY chunk: a short Le of at most 255 (CNS.md section 5).
    static let chunk = 0xFF
    /// Authentication key and security environment (MSE RESTORE 03, key reference 01).
    static let securityEnvironment: UInt8 = 0x03
    static let authenticationKey: UInt8 = 0x01

    /// The one buffer every command carrying a PIN or PUK is built in (header, Lc, two
    /// 8-byte blocks at most), wiped as soon as the command has been sent.
    let secretCommand: UnsafeMutableRawBufferPointer

    public init(transport: any APDUTransport, atr: [UInt8]) {
        channel = CardChannel(transport: transport)
        cardType = (try? ATR(atr)).flatMap(CNSCardType.init(atr:))
        secretCommand = UnsafeMutableRawBufferPointer.allocate(byteCount: 5 + 2 * CardSecret.maximumLength, alignment: 8)
        secretCommand.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        wipeMemory(secretCommand)
        secretCommand.deallocate()
    }

    // MARK: files

    /// SELECT by path from the MF: `00 A4 08 00 Lc <path without 3F00> 00`; the trailing Le
    /// asks for the FCI, which carries the file size.
    @discardableResult
    public func select(path: [UInt16]) throws(SmartCardError) -> FileControlInformation? {
        var ids = path
        if ids.first == CNSFile.masterFile { ids.removeFirst() }
        let command = ids.isEmpty
            ? CommandAPDU(ins: 0xA4, p1: 0x00, p2: 0x00, data: [0x3F, 0x00], le: 256)
            : CommandAPDU(ins: 0xA4, p1: 0x08, p2: 0x00, data: ids.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, le: 256)
        return try selectResponse(command, path: path)
    }

    /// SELECT one level at a time, `00 A4 00 00 02 <fid>` from the MF down, for cards that
    /// do not take paths.
    @discardableResult
    public func selectByLevels(path: [UInt16]) throws(SmartCardError) -> FileControlInformation? {
        var info: FileControlInformation?
        var ids = path
        if ids.first != CNSFile.masterFile { ids.insert(CNSFile.masterFile, at: 0) }
        for id in ids {
            info = try selectResponse(CommandAPDU(ins: 0xA4, p1: 0x00, p2: 0x00, data: [UInt8(id >> 8), UInt8(id & 0xFF)], le: 256), path: path)
        }
        return info
    }

    private func selectResponse(_ command: CommandAPDU, path: [UInt16]) throws(SmartCardError) -> FileControlInformation? {
        let response = try channel.send(command)
        let name = path.map { hexString([UInt8($0 >> 8), UInt8($0 & 0xFF)], separator: "") }.joined(separator: "/")
        switch response.sw {
        case StatusWord.success:
            // A card that sends no or an unreadable FCI is still usable: we read to the end.
            return (try? FileControlInformation(parsing: response.data)) ?? nil
        case StatusWord.fileNotFound:
            throw SmartCardError(.fileNotFound, "file \(name) not found on the card")
        default:
            throw Self.unexpected(response, "SELECT \(name)")
        }
    }

    /// READ BINARY of the selected EF from offset 0, in chunks of at most 255 bytes, until
    /// `size` bytes or the end of the file.
    public func readBinary(size: Int?) throws(SmartCardError) -> [UInt8] {
        var data: [UInt8] = []
        while true {
            let wanted = min(Self.chunk, size.map { $0 - data.count } ?? Self.chunk)
            if wanted <= 0 { break }
            guard data.count <= 0x7FFF else { break }  // P1 bit 8 would mean a short file id
            let command = CommandAPDU(ins: 0xB0, p1: UInt8(data.count >> 8), p2: UInt8(data.count & 0xFF), le: wanted)
            let response = try channel.send(command)
            switch response.sw {
            case StatusWord.success:
                data += response.data
                if response.data.count < wanted || response.data.isEmpty { return data }
            case StatusWord.endOfFileReached:
                return data + response.data
            case StatusWord.wrongOffset where !data.isEmpty:
                return data
            case StatusWord.securityStatusNotSatisfied:
                throw SmartCardError(.securityStatusNotSatisfied, "the file needs a verified PIN")
            default:
                throw Self.unexpected(response, "READ BINARY")
            }
        }
        return data
    }

    public func readFile(_ path: [UInt16]) throws(SmartCardError) -> [UInt8] {
        let info = try select(path: path)
        return try readBinary(size: info?.size)
    }

    /// EF_IDCarta: 16 ASCII digits.
    public func readCardID() throws(SmartCardError) -> String {
        let bytes = try readFile(CNSFile.cardID)
        return try Self.parseCardID(bytes)
    }

    public static func parseCardID(_ bytes: [UInt8]) throws(SmartCardError) -> String {
        guard bytes.count == 16, bytes.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw SmartCardError(.malformedCardID, "EF_IDCarta is not 16 digits")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func readPersonalDataFile() throws(SmartCardError) -> [UInt8] {
        try readFile(CNSFile.personalData)
    }

    public func readPersonalData() throws(SmartCardError) -> PersonalData {
        try PersonalData(parsing: readPersonalDataFile())
    }

    /// The authentication certificate, DER, cut to the length its outer SEQUENCE declares.
    public func readCertificate() throws(SmartCardError) -> [UInt8] {
        let bytes = try readFile(CNSFile.authenticationCertificate)
        guard let length = Self.derElementLength(bytes), bytes[0] == 0x30 else {
            throw SmartCardError(.malformedCertificate, "the certificate file does not hold a DER certificate")
        }
        return Array(bytes.prefix(length))
    }

    /// Total length (header + content) of the DER element at the start of `bytes`, or nil
    /// when the header is malformed or the element is longer than `bytes`. Pure.
    public static func derElementLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        let first = bytes[1]
        var header = 2
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...3).contains(count), bytes.count >= 2 + count else { return nil }
            length = bytes[2..<(2 + count)].reduce(0) { $0 << 8 | Int($1) }
            header += count
        }
        guard header + length <= bytes.count else { return nil }
        return header + length
    }

    // MARK: PIN and PUK

    /// VERIFY `00 20 00 <ref> 08 <pin padded with FF>`. Throws `.wrongPIN(triesLeft:)` on
    /// 63Cx and `.pinBlocked` on 6983.
    /// The secrets are used once: they are wiped when the command has been sent, whatever
    /// the card answers.
    public func verify(pin: CardSecret) throws(SmartCardError) {
        let response = try sendSecrets(ins: 0x20, pin)
        try Self.checkSecretStatus(response, kind: .pin, operation: "VERIFY")
    }

    /// CHANGE REFERENCE DATA `00 24 00 <ref> 10 <old8><new8>`.
    public func changePIN(old: CardSecret, new: CardSecret) throws(SmartCardError) {
        let response = try sendSecrets(ins: 0x24, old, new)
        try Self.checkSecretStatus(response, kind: .pin, operation: "CHANGE REFERENCE DATA")
    }

    /// RESET RETRY COUNTER `00 2C 00 <PIN ref> 10 <puk8><new8>`: unblocks the PIN and sets
    /// a new one. 63Cx / 6983 here are about the PUK.
    public func unblockPIN(puk: CardSecret, newPIN: CardSecret) throws(SmartCardError) {
        let response = try sendSecrets(ins: 0x2C, puk, newPIN)
        try Self.checkSecretStatus(response, kind: .puk, operation: "RESET RETRY COUNTER")
    }

    /// `00 <ins> 00 <PIN ref> Lc <blocks>` built in `secretCommand` and sent from there; then
    /// the command buffer and the secrets are wiped, also when the transport fails.
    private func sendSecrets(ins: UInt8, _ first: CardSecret, _ second: CardSecret? = nil) throws(SmartCardError) -> ResponseAPDU {
        defer {
            wipeMemory(secretCommand)
            first.wipe()
            second?.wipe()
        }
        let length = CardSecret.maximumLength * (second == nil ? 1 : 2)
        secretCommand[0] = 0x00
        secretCommand[1] = ins
        secretCommand[2] = 0x00
        secretCommand[3] = pinReference
        secretCommand[4] = UInt8(length)
        try first.withPaddedBlock { (block) throws(SmartCardError) in
            UnsafeMutableRawBufferPointer(rebasing: secretCommand[5..<(5 + block.count)]).copyMemory(from: block)
        }
        try second?.withPaddedBlock { (block) throws(SmartCardError) in
            UnsafeMutableRawBufferPointer(rebasing: secretCommand[(5 + block.count)...]).copyMemory(from: block)
        }
        return try channel.sendEncoded(UnsafeRawBufferPointer(rebasing: secretCommand[0..<(5 + length)]))
    }

    static func checkSecretStatus(_ response: ResponseAPDU, kind: CardSecret.Kind, operation: String) throws(SmartCardError) {
        let name = kind.rawValue
        switch response.sw {
        case StatusWord.success:
            return
        case 0x63C0...0x63CF:
            let left = Int(response.sw2 & 0x0F)
            throw SmartCardError(kind == .pin ? .wrongPIN(triesLeft: left) : .wrongPUK(triesLeft: left),
                                 "wrong \(name), \(left) tr\(left == 1 ? "y" : "ies") left")
        case StatusWord.authenticationMethodBlocked:
            throw SmartCardError(kind == .pin ? .pinBlocked : .pukBlocked, "the \(name) is blocked")
        default:
            throw unexpected(response, operation)
        }
    }

    // MARK: signature

    /// Raw RSA with the authentication key on a block the host already padded (see
    /// `SignaturePadding`): MSE RESTORE `00 22 F3 03 00`, MSE SET `00 22 F1 B6 03 83 01 01`,
    /// PSO COMPUTE DIGITAL SIGNATURE `00 2A 9E 9A Lc <block> 00`. Needs a verified PIN.
    public func signRaw(_ block: [UInt8]) throws(SmartCardError) -> [UInt8] {
        guard !block.isEmpty, block.count <= 512 else {
            throw SmartCardError(.invalidSignatureInput, "a \(block.count)-byte block cannot be a modulus-length block")
        }
        // The CNS specification (section 13.14, per OpenSC) wants a zero byte after the
        // header of MSE RESTORE: sent as a Le of 00.
        let restore = try channel.send(CommandAPDU(ins: 0x22, p1: 0xF3, p2: Self.securityEnvironment, le: 256))
        guard restore.isSuccess else { throw Self.unexpected(restore, "MSE RESTORE") }
        let set = try channel.send(CommandAPDU(ins: 0x22, p1: 0xF1, p2: 0xB6, data: [0x83, 0x01, Self.authenticationKey]))
        guard set.isSuccess else { throw Self.unexpected(set, "MSE SET") }
        let response = try channel.send(CommandAPDU(ins: 0x2A, p1: 0x9E, p2: 0x9A, data: block, le: block.count > 256 ? block.count : 256))
        switch response.sw {
        case StatusWord.success:
            return response.data
        case StatusWord.securityStatusNotSatisfied:
            throw SmartCardError(.securityStatusNotSatisfied, "the card wants the PIN before it signs")
        default:
            throw Self.unexpected(response, "PSO COMPUTE DIGITAL SIGNATURE")
        }
    }

    static func unexpected(_ response: ResponseAPDU, _ operation: String) -> SmartCardError {
        switch response.sw {
        case StatusWord.fileNotFound:
            return SmartCardError(.fileNotFound, "\(operation): file not found")
        case StatusWord.securityStatusNotSatisfied:
            return SmartCardError(.securityStatusNotSatisfied, "\(operation): security status not satisfied")
        default:
            return SmartCardError(.unexpectedStatus(response.sw), "\(operation): the card answered \(hex16(response.sw))")
        }
    }
}
