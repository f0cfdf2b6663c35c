/// A PIN or PUK: 5 to 8 ASCII digits, sent padded with 0xFF to 8 bytes (CNS.md section 5).
/// It never prints itself, so it cannot end up in a log line or an error by accident.
public struct CardSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: String, Sendable { case pin = "PIN", puk = "PUK" }

    public let kind: Kind
    let digits: [UInt8]

    public static let minimumLength = 5
    public static let maximumLength = 8

    public init(_ text: some StringProtocol, kind: Kind) throws(SmartCardError) {
        try self.init(utf8: Array(text.utf8), kind: kind)
    }

    public init(utf8 bytes: [UInt8], kind: Kind) throws(SmartCardError) {
        guard (Self.minimumLength...Self.maximumLength).contains(bytes.count),
              bytes.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw SmartCardError(.invalidPINFormat, "a \(kind.rawValue) is 5 to 8 digits")
        }
        self.kind = kind
        self.digits = bytes
    }

    /// The 8-byte reference-data block: the digits, then 0xFF.
    public var padded: [UInt8] {
        digits + [UInt8](repeating: 0xFF, count: Self.maximumLength - digits.count)
    }

    /// Whether `block` (8 bytes as a VERIFY carries it) holds this secret.
    public func matches(padded block: some Collection<UInt8>) -> Bool {
        guard block.count == Self.maximumLength else { return false }
        // Compare every byte whatever the first difference, to keep timing flat.
        var difference: UInt8 = 0
        for (a, b) in zip(padded, block) { difference |= a ^ b }
        return difference == 0
    }

    public var description: String { "<\(kind.rawValue) redacted>" }
    public var debugDescription: String { description }
}
