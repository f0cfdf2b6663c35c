public import SmartCard

/// Everything that makes one virtual CNS card: what it answers to reset, its files,
/// its secrets and its key.
public struct VirtualCardProfile {
    public var atr: [UInt8]
    public var cardID: String
    public var personalData: [UInt8]
    public var certificate: [UInt8]
    public var pin: CardSecret
    public var puk: CardSecret
    public var pinTries: Int
    public var pukTries: Int
    /// Answer like a T=0 card: data comes with 61xx and needs GET RESPONSE, a wrong Le on
    /// READ BINARY gets 6Cxx. For exercising the host's T=0 handling; vpcd itself does not care.
    public var t0Responses: Bool
    /// Sign only blocks padded as PKCS#1 v1.5 (`00 01 FF..FF 00 DigestInfo`) and refuse any
    /// other (6A80): what a CIE looks like from the TLS side, whose middleware has no RSA-PSS,
    /// so that a login over TLS 1.3 fails as it does with a real CIE.
    public var pkcs1Only: Bool

    public init(atr: [UInt8] = VirtualCardProfile.defaultATR(), cardID: String, personalData: [UInt8],
                certificate: [UInt8], pin: CardSecret, puk: CardSecret, pinTries: Int = 3, pukTries: Int = 10,
                t0Responses: Bool = false, pkcs1Only: Bool = false) {
        self.pkcs1Only = pkcs1Only
        self.atr = atr
        self.cardID = cardID
        self.personalData = personalData
        self.certificate = certificate
        self.pin = pin
        self.puk = puk
        self.pinTries = pinTries
        self.pukTries = pukTries
        self.t0Responses = t0Responses
    }

    /// `3B FF 18 00 FF 81 31 FE 55` + the 15 CNS historical bytes + TCK: the interface bytes of
    /// a real TS-CNS card (T=1), with the version and manufacturers chosen here. The default
    /// is that card's: CNS 1.0, IC STMicroelectronics, mask STIncard.
    public static func defaultATR(version: UInt8 = 0x10, icManufacturer: UInt8 = 0x02,
                                  maskManufacturer: UInt8 = 0x09, operatingSystem: UInt16 = 0x0303) -> [UInt8] {
        let head: [UInt8] = [0x3B, 0xFF, 0x18, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x55]
        let body = head + CNSCardType.historicalBytes(version: version, icManufacturer: icManufacturer,
                                                      maskManufacturer: maskManufacturer, operatingSystem: operatingSystem)
        // TCK: XOR of T0 .. the last historical byte is zero with it.
        return body + [body.dropFirst().reduce(0, ^)]
    }
}

/// A TS-CNS card in memory: takes a command APDU, gives the response APDU. One instance is
/// one card; not thread-safe (vpcd talks to it from one connection).
///
/// It never records PIN or PUK bytes anywhere but in its own state: the `log` callback
/// receives the instruction name and status word only.
public final class CNSCardEmulator: APDUTransport {
    public private(set) var profile: VirtualCardProfile
    private let key: CardKey
    private var files = CardFileSystem()
    private var currentDirectory: [UInt16] = [CNSFile.masterFile]
    private var currentFile: [UInt16]?
    private var pinTriesLeft: Int
    private var pukTriesLeft: Int
    private var pinVerified = false
    private var environmentRestored = false
    private var keySelected = false
    private var pendingResponse: [UInt8] = []
    public var log: ((String) -> Void)?

    static let pinReference: UInt8 = 0x10
    static let pukReference: UInt8 = 0x11

    public init(profile: VirtualCardProfile, key: CardKey) {
        self.profile = profile
        self.key = key
        pinTriesLeft = profile.pinTries
        pukTriesLeft = profile.pukTries
        files.addFile(CNSFile.cardID, contents: Array(profile.cardID.utf8))
        files.addFile(CNSFile.personalData, contents: profile.personalData)
        files.addFile(CNSFile.authenticationCertificate, contents: profile.certificate)
    }

    public var atr: [UInt8] { profile.atr }
    public var pinRetriesRemaining: Int { pinTriesLeft }
    public var pukRetriesRemaining: Int { pukTriesLeft }

    /// Power off, power on and reset all end the session: the PIN must be presented again.
    public func reset() {
        currentDirectory = [CNSFile.masterFile]
        currentFile = nil
        pinVerified = false
        environmentRestored = false
        keySelected = false
        pendingResponse = []
    }

    /// `APDUTransport`, so tests can drive the card without PC/SC.
    public func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8] {
        process(Array(command))
    }

    public func process(_ bytes: [UInt8]) -> [UInt8] {
        let response: ResponseAPDU
        let name: String
        do {
            let command = try CommandAPDU(parsing: bytes)
            name = Self.instructionName(command.ins)
            response = handle(command)
        } catch {
            name = "?"
            response = ResponseAPDU(sw: StatusWord.wrongLength)
        }
        log?("\(name) -> \(hexString([response.sw1, response.sw2], separator: ""))")
        return response.encoded
    }

    private func handle(_ command: CommandAPDU) -> ResponseAPDU {
        if profile.t0Responses, command.ins == 0xC0 {
            return getResponse(command)
        }
        pendingResponse = []
        guard command.cla == 0x00 else { return ResponseAPDU(sw: StatusWord.claNotSupported) }
        let response: ResponseAPDU
        switch command.ins {
        case 0xA4: response = select(command)
        case 0xB0: response = readBinary(command)
        case 0x20: response = verify(command)
        case 0x24: response = changeReferenceData(command)
        case 0x2C: response = resetRetryCounter(command)
        case 0x22: response = manageSecurityEnvironment(command)
        case 0x2A: response = performSecurityOperation(command)
        case 0x84: response = getChallenge(command)
        default: response = ResponseAPDU(sw: StatusWord.insNotSupported)
        }
        guard profile.t0Responses, !response.data.isEmpty, response.isSuccess else { return response }
        // T=0: the data waits for GET RESPONSE.
        pendingResponse = response.data
        return ResponseAPDU(sw: 0x6100 | UInt16(min(response.data.count, 256) & 0xFF))
    }

    private func getResponse(_ command: CommandAPDU) -> ResponseAPDU {
        guard !pendingResponse.isEmpty else { return ResponseAPDU(sw: StatusWord.conditionsNotSatisfied) }
        let count = min(command.le ?? 256, pendingResponse.count)
        let chunk = Array(pendingResponse.prefix(count))
        pendingResponse.removeFirst(count)
        if pendingResponse.isEmpty { return ResponseAPDU(sw: StatusWord.success, data: chunk) }
        return ResponseAPDU(sw: 0x6100 | UInt16(min(pendingResponse.count, 256) & 0xFF), data: chunk)
    }

    // MARK: SELECT

    private func select(_ command: CommandAPDU) -> ResponseAPDU {
        guard command.data.count % 2 == 0 else { return ResponseAPDU(sw: StatusWord.wrongLength) }
        let ids = stride(from: 0, to: command.data.count, by: 2).map {
            UInt16(command.data[$0]) << 8 | UInt16(command.data[$0 + 1])
        }
        let target: [UInt16]?
        switch command.p1 {
        case 0x00:
            target = selectByID(ids)
        case 0x01:
            target = ids.count == 1 ? directoryChild(ids[0], directoryOnly: true) : nil
        case 0x02:
            target = ids.count == 1 ? directoryChild(ids[0], directoryOnly: false).flatMap { files.isDirectory($0) ? nil : $0 } : nil
        case 0x03:
            target = currentDirectory.count > 1 ? Array(currentDirectory.dropLast()) : nil
        case 0x08:
            let relative = ids.first == CNSFile.masterFile ? Array(ids.dropFirst()) : ids
            target = relative.isEmpty ? nil : [CNSFile.masterFile] + relative
        case 0x09:
            target = ids.isEmpty ? nil : currentDirectory + ids
        default:
            return ResponseAPDU(sw: command.p1 == 0x04 ? StatusWord.fileNotFound : StatusWord.incorrectP1P2)
        }
        guard let path = target, files.node(path) != nil else { return ResponseAPDU(sw: StatusWord.fileNotFound) }
        if files.isDirectory(path) {
            currentDirectory = path
            currentFile = nil
        } else {
            currentDirectory = Array(path.dropLast())
            currentFile = path
        }
        switch command.p2 & 0x0C {
        case 0x0C:
            return ResponseAPDU(sw: StatusWord.success)
        case 0x04:
            return ResponseAPDU(sw: StatusWord.success, data: files.controlParameters(path))
        default:
            // FCI: the FCP items inside a 6F template.
            let fcp = files.controlParameters(path)
            return ResponseAPDU(sw: StatusWord.success, data: [0x6F] + fcp.dropFirst())
        }
    }

    private func selectByID(_ ids: [UInt16]) -> [UInt16]? {
        guard let id = ids.first, ids.count == 1, id != CNSFile.masterFile else {
            return ids.isEmpty || ids == [CNSFile.masterFile] ? [CNSFile.masterFile] : nil
        }
        if let child = directoryChild(id, directoryOnly: false) { return child }
        // A sibling DF, or the parent, as ISO 7816-4 allows for P1 = 00.
        let parent = Array(currentDirectory.dropLast())
        if parent.last == id { return parent }
        if !parent.isEmpty, files.children(of: parent).contains(parent + [id]) { return parent + [id] }
        return nil
    }

    private func directoryChild(_ id: UInt16, directoryOnly: Bool) -> [UInt16]? {
        let path = currentDirectory + [id]
        guard files.node(path) != nil else { return nil }
        return directoryOnly && !files.isDirectory(path) ? nil : path
    }

    // MARK: READ BINARY

    private func readBinary(_ command: CommandAPDU) -> ResponseAPDU {
        guard command.p1 & 0x80 == 0 else { return ResponseAPDU(sw: 0x6A81) }  // short EF ids: not on this card
        guard let path = currentFile, case .file(let bytes) = files.node(path) else {
            return ResponseAPDU(sw: 0x6986)  // no current EF
        }
        let offset = Int(command.p1) << 8 | Int(command.p2)
        guard offset < bytes.count else { return ResponseAPDU(sw: StatusWord.wrongOffset) }
        let wanted = command.le ?? 256
        let available = bytes.count - offset
        if profile.t0Responses, wanted != available, wanted > available {
            return ResponseAPDU(sw: 0x6C00 | UInt16(min(available, 256) & 0xFF))
        }
        return ResponseAPDU(sw: StatusWord.success, data: Array(bytes[offset..<(offset + min(wanted, available))]))
    }

    // MARK: PIN and PUK

    private func isPINReference(_ p2: UInt8) -> Bool { p2 & 0x7F == Self.pinReference }
    private func isPUKReference(_ p2: UInt8) -> Bool { p2 & 0x7F == Self.pukReference }

    private func verify(_ command: CommandAPDU) -> ResponseAPDU {
        guard command.p1 == 0x00 else { return ResponseAPDU(sw: StatusWord.incorrectP1P2) }
        let isPIN = isPINReference(command.p2)
        guard isPIN || isPUKReference(command.p2) else { return ResponseAPDU(sw: StatusWord.referenceNotFound) }
        let left = isPIN ? pinTriesLeft : pukTriesLeft
        if command.data.isEmpty {
            // ISO 7816-4: an empty VERIFY asks for the state and counts nothing.
            if left == 0 { return ResponseAPDU(sw: StatusWord.authenticationMethodBlocked) }
            return ResponseAPDU(sw: isPIN && pinVerified ? StatusWord.success : StatusWord.triesLeft(left))
        }
        guard command.data.count == CardSecret.maximumLength else { return ResponseAPDU(sw: StatusWord.wrongLength) }
        return isPIN ? checkPIN(command.data) : checkPUK(command.data)
    }

    private func checkPIN(_ block: [UInt8]) -> ResponseAPDU {
        guard pinTriesLeft > 0 else { return ResponseAPDU(sw: StatusWord.authenticationMethodBlocked) }
        if profile.pin.matches(padded: block) {
            pinTriesLeft = profile.pinTries
            pinVerified = true
            return ResponseAPDU(sw: StatusWord.success)
        }
        pinTriesLeft -= 1
        pinVerified = false
        return ResponseAPDU(sw: StatusWord.triesLeft(pinTriesLeft))
    }

    private func checkPUK(_ block: [UInt8]) -> ResponseAPDU {
        guard pukTriesLeft > 0 else { return ResponseAPDU(sw: StatusWord.authenticationMethodBlocked) }
        if profile.puk.matches(padded: block) {
            pukTriesLeft = profile.pukTries
            return ResponseAPDU(sw: StatusWord.success)
        }
        pukTriesLeft -= 1
        return ResponseAPDU(sw: StatusWord.triesLeft(pukTriesLeft))
    }

    /// New reference data: 5 to 8 digits then FF padding, as a host formats it.
    private static func secret(fromPadded block: ArraySlice<UInt8>, kind: CardSecret.Kind) -> CardSecret? {
        let digits = block.prefix { $0 != 0xFF }
        guard block.dropFirst(digits.count).allSatisfy({ $0 == 0xFF }) else { return nil }
        return try? CardSecret(utf8: Array(digits), kind: kind)
    }

    private func changeReferenceData(_ command: CommandAPDU) -> ResponseAPDU {
        guard command.p1 == 0x00 else { return ResponseAPDU(sw: StatusWord.incorrectP1P2) }
        guard isPINReference(command.p2) else { return ResponseAPDU(sw: StatusWord.referenceNotFound) }
        guard command.data.count == 2 * CardSecret.maximumLength else { return ResponseAPDU(sw: StatusWord.wrongLength) }
        guard let newPIN = Self.secret(fromPadded: command.data.suffix(8), kind: .pin) else {
            return ResponseAPDU(sw: StatusWord.incorrectData)
        }
        let result = checkPIN(Array(command.data.prefix(8)))
        guard result.isSuccess else { return result }
        profile.pin = newPIN
        return result
    }

    private func resetRetryCounter(_ command: CommandAPDU) -> ResponseAPDU {
        guard isPINReference(command.p2) else { return ResponseAPDU(sw: StatusWord.referenceNotFound) }
        let newPIN: CardSecret?
        switch (command.p1, command.data.count) {
        case (0x00, 16):
            guard let secret = Self.secret(fromPadded: command.data.suffix(8), kind: .pin) else {
                return ResponseAPDU(sw: StatusWord.incorrectData)
            }
            newPIN = secret
        case (0x01, 8):
            newPIN = nil
        case (0x00, _), (0x01, _):
            return ResponseAPDU(sw: StatusWord.wrongLength)
        default:
            return ResponseAPDU(sw: StatusWord.incorrectP1P2)
        }
        let result = checkPUK(Array(command.data.prefix(8)))
        guard result.isSuccess else { return result }
        if let newPIN { profile.pin = newPIN }
        pinTriesLeft = profile.pinTries
        return result
    }

    // MARK: signature

    private func manageSecurityEnvironment(_ command: CommandAPDU) -> ResponseAPDU {
        switch (command.p1, command.p2) {
        case (0xF3, 0x03):
            environmentRestored = true
            keySelected = false
            return ResponseAPDU(sw: StatusWord.success)
        case (0xF3, _):
            return ResponseAPDU(sw: StatusWord.referenceNotFound)
        case (0xF1, 0xB6), (0xF1, 0xB8), (0xF1, 0xA4):
            guard command.data == [0x83, 0x01, 0x01] else { return ResponseAPDU(sw: StatusWord.referenceNotFound) }
            guard environmentRestored else { return ResponseAPDU(sw: StatusWord.conditionsNotSatisfied) }
            keySelected = true
            return ResponseAPDU(sw: StatusWord.success)
        default:
            return ResponseAPDU(sw: StatusWord.incorrectP1P2)
        }
    }

    private func performSecurityOperation(_ command: CommandAPDU) -> ResponseAPDU {
        guard command.p1 == 0x9E, command.p2 == 0x9A else { return ResponseAPDU(sw: StatusWord.incorrectP1P2) }
        guard pinVerified else { return ResponseAPDU(sw: StatusWord.securityStatusNotSatisfied) }
        guard keySelected else { return ResponseAPDU(sw: StatusWord.conditionsNotSatisfied) }
        guard command.data.count == key.modulusLength else { return ResponseAPDU(sw: StatusWord.wrongLength) }
        if profile.pkcs1Only && !Self.isPKCS1Block(command.data) { return ResponseAPDU(sw: StatusWord.incorrectData) }
        guard let signature = try? key.rawPrivateOperation(command.data) else {
            return ResponseAPDU(sw: StatusWord.incorrectData)
        }
        return ResponseAPDU(sw: StatusWord.success, data: signature)
    }

    /// RFC 8017 section 9.2 step 5: `00 01`, at least eight `FF`, `00`, then the DigestInfo
    /// (a DER SEQUENCE). A PSS block (TLS 1.3) ends in `BC` and starts with random-looking bytes.
    static func isPKCS1Block(_ block: [UInt8]) -> Bool {
        guard block.count > 11, block[0] == 0x00, block[1] == 0x01 else { return false }
        guard let end = block[2...].firstIndex(where: { $0 != 0xFF }), end - 2 >= 8, block[end] == 0x00,
            end + 1 < block.count, block[end + 1] == 0x30
        else { return false }
        return true
    }

    private func getChallenge(_ command: CommandAPDU) -> ResponseAPDU {
        var generator = SystemRandomNumberGenerator()
        let count = min(command.le ?? 8, 256)
        return ResponseAPDU(sw: StatusWord.success, data: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func instructionName(_ ins: UInt8) -> String {
        switch ins {
        case 0xA4: return "SELECT"
        case 0xB0: return "READ BINARY"
        case 0x20: return "VERIFY"
        case 0x24: return "CHANGE REFERENCE DATA"
        case 0x2C: return "RESET RETRY COUNTER"
        case 0x22: return "MSE"
        case 0x2A: return "PSO"
        case 0x84: return "GET CHALLENGE"
        case 0xC0: return "GET RESPONSE"
        default: return "INS " + hexString([ins])
        }
    }
}
