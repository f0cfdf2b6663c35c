public import FoundationEssentials

/// An Italian Codice Fiscale that has passed validation (CNS.md section 4).
///
/// Two forms exist: the 16-character personal code of a natural person and the 11-digit
/// numeric code of a legal entity (the same number as its Partita IVA).
///
/// The normalised string is the identity. An omocode (a code whose digits were replaced by
/// letters because two people collided) is a different person from its non-omocode base:
/// letters are mapped back to digits only to decode the date and place, never to compare.
public struct CodiceFiscale: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// 16 characters: a natural person.
        case personal
        /// 11 digits: a legal entity.
        case numeric
    }

    public enum Sex: String, Sendable {
        case male = "M"
        case female = "F"
    }

    /// Uppercased, surrounding whitespace trimmed.
    public let value: String

    public var kind: Kind {
        value.utf8.count == 11 ? .numeric : .personal
    }

    public var description: String { value }

    /// Validates and normalises `string`.
    ///
    /// Only ASCII letters are uppercased: a Unicode case mapping would turn, for example, the
    /// dotless `ı` into `I` and let a look-alike string normalise into someone else's code.
    public init(_ string: String) throws(CodiceFiscaleError) {
        let bytes = try Self.normalisedBytes(string)
        switch bytes.count {
        case 16:
            try Self.validatePersonal(bytes)
        case 11:
            try Self.validateNumeric(bytes)
        default:
            throw CodiceFiscaleError(
                code: .length,
                reason: "expected 16 characters (person) or 11 digits (legal entity), got \(bytes.count)")
        }
        self.value = String(decoding: bytes, as: UTF8.self)
    }

    public static func isValid(_ string: String) -> Bool {
        (try? CodiceFiscale(string)) != nil
    }

    // MARK: Decoding (personal form)

    public var sex: Sex? {
        guard kind == .personal else { return nil }
        return decodedDay >= 41 ? .female : .male
    }

    /// The Belfiore code of the birth municipality, or `Z` + three digits for a foreign country,
    /// with omocodia letters mapped back to digits.
    public var placeCode: String? {
        guard kind == .personal else { return nil }
        let bytes = Array(value.utf8)
        var place = [bytes[11]]
        for index in 12...14 {
            place.append(UInt8(ascii: "0") + Self.digitValue(bytes[index])!)
        }
        return String(decoding: place, as: UTF8.self)
    }

    /// True when at least one digit position holds an omocodia letter.
    public var isOmocode: Bool {
        guard kind == .personal else { return false }
        let bytes = Array(value.utf8)
        return Self.omocodiaPositions.contains { Self.isLetter(bytes[$0]) }
    }

    /// The birth date encoded in a personal code.
    ///
    /// The code carries only two digits of the year. The century rule: the year is the latest
    /// one ending in those digits whose resulting date is not after `today` (in UTC). So with
    /// today = 2025-06-01, `80` gives 1980, `24` gives 2024, `25A01` gives 2025-01-01 and
    /// `25H01` (July) gives 1925. A centenarian and a newborn therefore decode alike; the code
    /// cannot tell them apart, and the rule favours the younger reading.
    public func birthDate(relativeTo today: Date = Date()) -> (year: Int, month: Int, day: Int)? {
        guard kind == .personal else { return nil }
        let bytes = Array(value.utf8)
        let yearDigits = Int(Self.digitValue(bytes[6])!) * 10 + Int(Self.digitValue(bytes[7])!)
        let month = Self.monthLetters.firstIndex(of: bytes[8])! + 1
        let day = decodedDay > 40 ? decodedDay - 40 : decodedDay
        let now = CivilDate(today)
        var year = now.year - (now.year % 100 + 100) % 100 + yearDigits
        if CivilDate(year: year, month: month, day: day) > now {
            year -= 100
        }
        return (year, month, day)
    }

    /// `birthDate` as an ISO 8601 calendar date, `1980-01-31`: the form of the OIDC `birthdate`
    /// claim and of the gateway's reports.
    public func birthDateText(relativeTo today: Date = Date()) -> String? {
        guard let date = birthDate(relativeTo: today) else { return nil }
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(date.year, 4))-\(padded(date.month, 2))-\(padded(date.day, 2))"
    }

    // MARK: Check character

    /// The check letter (position 16) of a personal code's first 15 characters, or nil when
    /// `s` is not 15 ASCII letters and digits. Lowercase letters are accepted.
    public static func checkCharacter(forFirst15 s: String) -> Character? {
        let bytes = s.utf8.map(asciiUppercased)
        guard bytes.count == 15, bytes.allSatisfy({ isLetter($0) || isDigit($0) }) else { return nil }
        return Character(Unicode.Scalar(checkByte(bytes)))
    }

    // MARK: Internals

    /// Used by `make`, which builds its string from parts it controls.
    init(uncheckedValue: String) {
        self.value = uncheckedValue
    }

    /// Day of month as encoded, women +40; only meaningful for a personal code.
    private var decodedDay: Int {
        let bytes = Array(value.utf8)
        return Int(Self.digitValue(bytes[9])!) * 10 + Int(Self.digitValue(bytes[10])!)
    }

    static let monthLetters: [UInt8] = Array("ABCDEHLMPRST".utf8)
    /// Omocodia letters in digit order: L stands for 0, M for 1, ... V for 9.
    static let omocodiaLetters: [UInt8] = Array("LMNPQRSTUV".utf8)
    /// 0-based positions of the seven digits that omocodia may replace (1-based 7 8 10 11 13 14 15).
    static let omocodiaPositions: [Int] = [6, 7, 9, 10, 12, 13, 14]
    /// Check-letter values of characters at odd 1-based positions; a digit shares the value
    /// of the letter in the same column (0 with A, 1 with B, ... 9 with J).
    static let oddValues: [Int] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
    ]

    static func isLetter(_ byte: UInt8) -> Bool { byte >= 0x41 && byte <= 0x5A }
    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func asciiUppercased(_ byte: UInt8) -> UInt8 { byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte }

    /// A digit, or the digit an omocodia letter stands for.
    static func digitValue(_ byte: UInt8) -> UInt8? {
        if isDigit(byte) { return byte - 0x30 }
        if let index = omocodiaLetters.firstIndex(of: byte) { return UInt8(index) }
        return nil
    }

    /// Letters and digits index the tables the same way: A and 0 are column 0, J and 9 column 9.
    private static func column(_ byte: UInt8) -> Int {
        isDigit(byte) ? Int(byte - 0x30) : Int(byte - 0x41)
    }

    static func checkByte(_ first15: some Collection<UInt8>) -> UInt8 {
        var sum = 0
        for (offset, byte) in first15.enumerated() {
            // Offset 0 is position 1, an odd position.
            sum += offset % 2 == 0 ? oddValues[column(byte)] : column(byte)
        }
        return UInt8(0x41 + sum % 26)
    }

    private static func normalisedBytes(_ string: String) throws(CodiceFiscaleError) -> [UInt8] {
        var characters = Substring(string)
        while let first = characters.first, first.isWhitespace { characters.removeFirst() }
        while let last = characters.last, last.isWhitespace { characters.removeLast() }
        guard characters.count == 16 || characters.count == 11 else {
            throw CodiceFiscaleError(
                code: .length,
                reason: "expected 16 characters (person) or 11 digits (legal entity), got \(characters.count)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for (offset, character) in characters.enumerated() {
            guard let ascii = character.asciiValue else {
                throw CodiceFiscaleError(
                    code: .characters, reason: "position \(offset + 1) is not an ASCII letter or digit")
            }
            let byte = asciiUppercased(ascii)
            guard isLetter(byte) || isDigit(byte) else {
                throw CodiceFiscaleError(
                    code: .characters, reason: "position \(offset + 1) is not an ASCII letter or digit")
            }
            bytes.append(byte)
        }
        return bytes
    }

    private static func validatePersonal(_ bytes: [UInt8]) throws(CodiceFiscaleError) {
        for index in [0, 1, 2, 3, 4, 5, 15] where !isLetter(bytes[index]) {
            throw CodiceFiscaleError(code: .characters, reason: "position \(index + 1) must be a letter")
        }
        for index in omocodiaPositions where digitValue(bytes[index]) == nil {
            throw CodiceFiscaleError(
                code: .omocodia,
                reason: "position \(index + 1) must be a digit or an omocodia letter (LMNPQRSTUV)")
        }
        guard let monthIndex = monthLetters.firstIndex(of: bytes[8]) else {
            throw CodiceFiscaleError(code: .month, reason: "position 9 must be one of ABCDEHLMPRST")
        }
        let yearDigits = Int(digitValue(bytes[6])!) * 10 + Int(digitValue(bytes[7])!)
        let encodedDay = Int(digitValue(bytes[9])!) * 10 + Int(digitValue(bytes[10])!)
        guard (1...31).contains(encodedDay) || (41...71).contains(encodedDay) else {
            throw CodiceFiscaleError(code: .day, reason: "day \(encodedDay) is not 01-31 (men) or 41-71 (women)")
        }
        // The century is unknown, but 1900+yy and 2000+yy have the same leap-ness unless yy is 00
        // (1900 is not a leap year, 2000 is): allow 29 February then.
        let day = encodedDay > 40 ? encodedDay - 40 : encodedDay
        let leap = yearDigits % 4 == 0
        guard day <= CivilDate.daysInMonth(monthIndex + 1, leap: leap) else {
            throw CodiceFiscaleError(code: .day, reason: "day \(day) does not exist in month \(monthIndex + 1)")
        }
        guard isLetter(bytes[11]) else {
            throw CodiceFiscaleError(code: .place, reason: "position 12 (first of the place code) must be a letter")
        }
        let expected = checkByte(bytes[0..<15])
        guard bytes[15] == expected else {
            throw CodiceFiscaleError(
                code: .checkCharacter,
                reason: "check letter is \(Character(Unicode.Scalar(bytes[15]))), expected \(Character(Unicode.Scalar(expected)))")
        }
    }

    private static func validateNumeric(_ bytes: [UInt8]) throws(CodiceFiscaleError) {
        guard bytes.allSatisfy(isDigit) else {
            throw CodiceFiscaleError(code: .characters, reason: "an 11-character code must be all digits")
        }
        let expected = numericCheckDigit(bytes[0..<10].map { Int($0 - 0x30) })
        guard Int(bytes[10] - 0x30) == expected else {
            throw CodiceFiscaleError(
                code: .numericCheckDigit, reason: "check digit is \(bytes[10] - 0x30), expected \(expected)")
        }
    }

    /// Luhn-style: digits at odd 1-based positions count as they are, digits at even positions
    /// are doubled (minus 9 when above 9); the check digit brings the sum to a multiple of 10.
    static func numericCheckDigit(_ first10: [Int]) -> Int {
        var sum = 0
        for (offset, digit) in first10.enumerated() {
            if offset % 2 == 0 {
                sum += digit
            } else {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            }
        }
        return (10 - sum % 10) % 10
    }
}
