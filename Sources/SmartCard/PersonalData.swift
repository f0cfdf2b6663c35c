/// The content of EF_DatiPersonali (3F00/1100/1102): six ASCII hex digits giving the length
/// of what follows, then fields each prefixed by two ASCII hex digits of length (`00` = empty),
/// in this order (CNS.md section 5). Dates are DDMMYYYY.
///
/// `init(parsing:)` and `encoded()` are pure; the parser is fuzzed.
public struct PersonalData: Sendable, Equatable {
    public var issuerCode: String
    public var issueDate: String
    public var expiryDate: String
    public var surname: String
    public var givenName: String
    public var birthDate: String
    public var sex: String
    public var height: String
    public var codiceFiscale: String
    public var citizenship: String
    public var birthMunicipality: String
    public var birthCountry: String
    public var birthRecord: String
    public var residenceMunicipality: String
    public var residenceAddress: String
    /// Absent on most cards.
    public var expatriationNotes: String

    /// The fields up to and including the Codice Fiscale must be there; later ones may be
    /// missing on old cards and read as empty.
    static let requiredFieldCount = 9
    static let fieldCount = 16

    public init(issuerCode: String = "", issueDate: String = "", expiryDate: String = "",
                surname: String = "", givenName: String = "", birthDate: String = "", sex: String = "",
                height: String = "", codiceFiscale: String = "", citizenship: String = "",
                birthMunicipality: String = "", birthCountry: String = "", birthRecord: String = "",
                residenceMunicipality: String = "", residenceAddress: String = "", expatriationNotes: String = "") {
        self.issuerCode = issuerCode
        self.issueDate = issueDate
        self.expiryDate = expiryDate
        self.surname = surname
        self.givenName = givenName
        self.birthDate = birthDate
        self.sex = sex
        self.height = height
        self.codiceFiscale = codiceFiscale
        self.citizenship = citizenship
        self.birthMunicipality = birthMunicipality
        self.birthCountry = birthCountry
        self.birthRecord = birthRecord
        self.residenceMunicipality = residenceMunicipality
        self.residenceAddress = residenceAddress
        self.expatriationNotes = expatriationNotes
    }

    /// Parses the file as read from the card. Bytes after the declared length (cards pad
    /// the file with 00 or FF) are ignored.
    public init(parsing bytes: [UInt8]) throws(SmartCardError) {
        guard bytes.count >= 6, let declared = Self.hexValue(bytes[0..<6]) else {
            throw SmartCardError(.malformedPersonalData, "EF_DatiPersonali does not start with six hex digits")
        }
        guard declared <= bytes.count - 6 else {
            throw SmartCardError(.malformedPersonalData, "EF_DatiPersonali declares \(declared) bytes, holds \(bytes.count - 6)")
        }
        let body = bytes[6..<(6 + declared)]
        var fields: [String] = []
        var index = body.startIndex
        while index < body.endIndex, fields.count < Self.fieldCount {
            guard body.endIndex - index >= 2, let length = Self.hexValue(body[index..<(index + 2)]) else {
                throw SmartCardError(.malformedPersonalData, "field \(fields.count + 1): bad length prefix")
            }
            index += 2
            guard body.endIndex - index >= length else {
                throw SmartCardError(.malformedPersonalData, "field \(fields.count + 1): \(length) bytes run past the end")
            }
            fields.append(Self.latin1(body[index..<(index + length)]))
            index += length
        }
        guard fields.count >= Self.requiredFieldCount else {
            throw SmartCardError(.malformedPersonalData, "EF_DatiPersonali holds \(fields.count) fields, needs at least \(Self.requiredFieldCount)")
        }
        guard index == body.endIndex else {
            throw SmartCardError(.malformedPersonalData, "EF_DatiPersonali has bytes after its last field")
        }
        fields += [String](repeating: "", count: Self.fieldCount - fields.count)
        self.init(issuerCode: fields[0], issueDate: fields[1], expiryDate: fields[2], surname: fields[3],
                  givenName: fields[4], birthDate: fields[5], sex: fields[6], height: fields[7],
                  codiceFiscale: fields[8], citizenship: fields[9], birthMunicipality: fields[10],
                  birthCountry: fields[11], birthRecord: fields[12], residenceMunicipality: fields[13],
                  residenceAddress: fields[14], expatriationNotes: fields[15])
    }

    var orderedFields: [String] {
        [issuerCode, issueDate, expiryDate, surname, givenName, birthDate, sex, height, codiceFiscale,
         citizenship, birthMunicipality, birthCountry, birthRecord, residenceMunicipality, residenceAddress,
         expatriationNotes]
    }

    /// The file bytes. Characters outside Latin-1 become `?`; a field over 255 bytes is cut.
    /// The expatriation field is written only when it is not empty.
    public func encoded() -> [UInt8] {
        var fields = orderedFields
        if fields[15].isEmpty { fields.removeLast() }
        var body: [UInt8] = []
        for field in fields {
            let bytes = Array(field.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }.prefix(255))
            body += Self.hex(bytes.count, digits: 2) + bytes
        }
        return Self.hex(body.count, digits: 6) + body
    }

    /// `DDMMYYYY` as (day, month, year), nil when it is not a calendar-shaped date.
    public static func dateComponents(_ text: String) -> (day: Int, month: Int, year: Int)? {
        let digits = Array(text.utf8)
        guard digits.count == 8, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        let number = { (range: Range<Int>) in digits[range].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let (day, month, year) = (number(0..<2), number(2..<4), number(4..<8))
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        return (day, month, year)
    }

    static func hexValue(_ bytes: some Collection<UInt8>) -> Int? {
        var value = 0
        for byte in bytes {
            let digit: Int
            switch byte {
            case 0x30...0x39: digit = Int(byte - 0x30)
            case 0x41...0x46: digit = Int(byte - 0x41 + 10)
            case 0x61...0x66: digit = Int(byte - 0x61 + 10)
            default: return nil
            }
            value = value * 16 + digit
        }
        return value
    }

    static func hex(_ value: Int, digits: Int) -> [UInt8] {
        let text = String(value, radix: 16, uppercase: true)
        return Array((String(repeating: "0", count: max(0, digits - text.count)) + text).utf8)
    }

    static func latin1(_ bytes: some Collection<UInt8>) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}
