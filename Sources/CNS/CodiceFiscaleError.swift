/// Why a string is not a valid Codice Fiscale.
///
/// Equality compares only `code`: tests match codes, logs keep `reason` and the throw site.
public struct CodiceFiscaleError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Not 16 characters (personal) or 11 digits (numeric).
        case length
        /// A character outside A-Z / 0-9, or a letter where only a digit may stand (or vice versa).
        case characters
        /// Position 9 is not one of the month letters A B C D E H L M P R S T.
        case month
        /// Positions 10-11 are not a day 01-31 (men) or 41-71 (women), or the day does not exist in that month.
        case day
        /// Positions 12-15 are not a letter followed by three digits.
        case place
        /// A letter at a digit position that is not one of the omocodia letters L M N P Q R S T U V.
        case omocodia
        /// Position 16 is not the check letter of positions 1-15.
        case checkCharacter
        /// The 11th digit of a numeric code is not the check digit of the first ten.
        case numericCheckDigit
    }

    public var code: Code
    public var reason: String
    public var fileID: String
    public var line: Int

    public init(code: Code, reason: String, fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.fileID = fileID
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code
    }

    public var description: String {
        "CodiceFiscaleError.\(code.rawValue): \(reason) (\(fileID):\(line))"
    }
}
