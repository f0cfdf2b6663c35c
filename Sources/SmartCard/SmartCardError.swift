/// A failure talking to a reader or a card. `code` is stable (tests and logs key on it);
/// `reason` is for people. Two errors are equal when their codes are: the detail may differ.
///
/// No reason ever contains command bytes: a VERIFY or RESET RETRY COUNTER APDU carries a
/// PIN or PUK, and errors end up in logs.
public struct SmartCardError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Hashable, CustomStringConvertible {
        /// pcsc-lite returned this code (e.g. 0x8010000C, SCARD_E_NO_SMARTCARD).
        case pcsc(UInt32)
        /// No reader is connected to the PC/SC service.
        case noReader
        /// The named reader does not exist, or holds no card that looks like a CNS.
        case noCard
        /// The bytes the card sent are not a response APDU (fewer than 2 bytes, or a
        /// GET RESPONSE chain that never ends).
        case malformedResponse
        /// A command APDU that cannot be encoded or parsed (data over 65535 bytes, bad Lc).
        case malformedCommand
        case malformedATR
        case notACNSCard
        /// The card answered with a status word the operation did not expect.
        case unexpectedStatus(UInt16)
        case fileNotFound
        /// 69 82: the operation needs a verified PIN.
        case securityStatusNotSatisfied
        /// 63 Cx on VERIFY / CHANGE REFERENCE DATA.
        case wrongPIN(triesLeft: Int)
        /// 69 83 on VERIFY / CHANGE REFERENCE DATA.
        case pinBlocked
        /// 63 Cx on RESET RETRY COUNTER.
        case wrongPUK(triesLeft: Int)
        /// 69 83 on RESET RETRY COUNTER.
        case pukBlocked
        /// A PIN or PUK that is not 5 to 8 ASCII digits.
        case invalidPINFormat
        case malformedCardID
        case malformedPersonalData
        case malformedCertificate
        /// A block to sign whose length is not the key's modulus length.
        case invalidSignatureInput

        /// Stable snake_case name for logs and metrics; PC/SC codes keep their hex value.
        public var description: String {
            switch self {
            case .pcsc(let value): return "pcsc_0x" + String(value, radix: 16, uppercase: true)
            case .noReader: return "no_reader"
            case .noCard: return "no_card"
            case .malformedResponse: return "malformed_response"
            case .malformedCommand: return "malformed_command"
            case .malformedATR: return "malformed_atr"
            case .notACNSCard: return "not_a_cns_card"
            case .unexpectedStatus(let sw): return "unexpected_status_" + hex16(sw)
            case .fileNotFound: return "file_not_found"
            case .securityStatusNotSatisfied: return "security_status_not_satisfied"
            case .wrongPIN: return "wrong_pin"
            case .pinBlocked: return "pin_blocked"
            case .wrongPUK: return "wrong_puk"
            case .pukBlocked: return "puk_blocked"
            case .invalidPINFormat: return "invalid_pin_format"
            case .malformedCardID: return "malformed_card_id"
            case .malformedPersonalData: return "malformed_personal_data"
            case .malformedCertificate: return "malformed_certificate"
            case .invalidSignatureInput: return "invalid_signature_input"
            }
        }
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { "\(reason) [\(code)]" }

    public static func == (lhs: SmartCardError, rhs: SmartCardError) -> Bool { lhs.code == rhs.code }
}

func hex16(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// Upper-case hex with a space between bytes, the way pcscd and OpenSC print APDUs.
public func hexString(_ bytes: some Sequence<UInt8>, separator: String = " ") -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }.joined(separator: separator)
}
