/// Textual IPv4/IPv6 addresses: parsing with the syntax inet_pton accepts, prefix-aware so
/// the v1 parser can tell "not finished yet" from "can never be valid"; formatting as
/// RFC 5952 recommends.
enum IPAddressText {
    enum Parse: Equatable {
        /// Can never become an address, whatever follows.
        case invalid
        /// Not an address yet, but some continuation is.
        case prefix
        /// A complete address (a longer text may still be one too).
        case complete([UInt8])
    }

    /// Dotted quad, four decimal octets 0-255 without leading zeros (glibc inet_pton rejects
    /// "01.2.3.4"; accepting it would invite octal/decimal confusion).
    static func parseIPv4(_ text: some Collection<UInt8>) -> Parse {
        var octets: [UInt8] = []
        var value = 0
        var digits = 0
        var leadingZero = false
        for c in text {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if leadingZero { return .invalid }
                value = value * 10 + Int(c - UInt8(ascii: "0"))
                if value > 255 { return .invalid }
                if digits == 0 && c == UInt8(ascii: "0") { leadingZero = true }
                digits += 1
            case UInt8(ascii: "."):
                if digits == 0 || octets.count == 3 { return .invalid }
                octets.append(UInt8(value))
                value = 0
                digits = 0
                leadingZero = false
            default:
                return .invalid
            }
        }
        guard digits > 0, octets.count == 3 else { return .prefix }
        octets.append(UInt8(value))
        return .complete(octets)
    }

    /// RFC 4291 §2.2 text: eight groups of 1-4 hex digits, one "::" standing for at least one
    /// zero group, optionally ending in a dotted quad in place of the last two groups.
    static func parseIPv6(_ text: some Collection<UInt8>) -> Parse {
        let s = Array(text)
        var groups: [UInt16] = []
        var doubleColonAt: Int?
        var value = 0
        var digits = 0
        var groupStart = 0
        var afterSingleColon = false
        var i = 0
        if s.first == UInt8(ascii: ":") {
            guard s.count >= 2 else { return .prefix }
            guard s[1] == UInt8(ascii: ":") else { return .invalid }
            doubleColonAt = 0
            i = 2
        }
        while i < s.count {
            let c = s[i]
            let capacity = doubleColonAt == nil ? 8 : 7
            if let h = hexValue(c) {
                if digits == 0 {
                    if groups.count + 1 > capacity { return .invalid }
                    groupStart = i
                }
                if digits == 4 { return .invalid }
                value = value << 4 | Int(h)
                digits += 1
                afterSingleColon = false
            } else if c == UInt8(ascii: ":") {
                if digits > 0 {
                    groups.append(UInt16(value))
                    value = 0
                    digits = 0
                    // Another group or "::" must follow: impossible once the groups are full.
                    if groups.count >= capacity { return .invalid }
                    afterSingleColon = true
                } else if afterSingleColon {
                    if doubleColonAt != nil { return .invalid }
                    doubleColonAt = groups.count
                    afterSingleColon = false
                } else {
                    return .invalid  // ":::"
                }
            } else if c == UInt8(ascii: ".") {
                // The current group was the first octet of an embedded IPv4 address, which
                // takes two groups and must end the text.
                guard digits > 0 else { return .invalid }
                let fits = doubleColonAt == nil ? groups.count == 6 : groups.count + 2 <= 7
                guard fits else { return .invalid }
                switch parseIPv4(s[groupStart...]) {
                case .invalid: return .invalid
                case .prefix: return .prefix
                case .complete(let v4):
                    groups.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    groups.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    return .complete(expand(groups, doubleColonAt: doubleColonAt))
                }
            } else {
                return .invalid
            }
            i += 1
        }
        if afterSingleColon { return .prefix }
        if digits > 0 { groups.append(UInt16(value)) }
        if doubleColonAt == nil && groups.count < 8 { return .prefix }
        return .complete(expand(groups, doubleColonAt: doubleColonAt))
    }

    private static func expand(_ groups: [UInt16], doubleColonAt: Int?) -> [UInt8] {
        var all = groups
        if let at = doubleColonAt {
            all.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: at)
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func formatIPv4(_ bytes: [UInt8]) -> String {
        bytes.map(String.init).joined(separator: ".")
    }

    /// RFC 5952 §4: lowercase, no leading zeros, the longest run (first on a tie) of two or
    /// more zero groups as "::"; §5: IPv4-mapped addresses end in a dotted quad.
    static func formatIPv6(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return bytes.map { String($0, radix: 16) }.joined(separator: ":") }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return "::ffff:" + formatIPv4(Array(bytes[12..<16]))
        }
        var bestStart = -1
        var bestLength = 1
        var runStart = 0
        var runLength = 0
        for (i, g) in groups.enumerated() {
            if g == 0 {
                if runLength == 0 { runStart = i }
                runLength += 1
                if runLength > bestLength {
                    bestStart = runStart
                    bestLength = runLength
                }
            } else {
                runLength = 0
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// A textual IP address on its own, for the other places a proxy names a client (the
/// `Forwarded` and `X-Forwarded-For` request headers).
public enum IPAddress {
    /// The 4 (IPv4 dotted quad) or 16 (IPv6, RFC 4291 §2.2) bytes of `text`, nil unless the
    /// whole text is one address (no port, no zone, no brackets).
    public static func parse(_ text: some Collection<UInt8>) -> [UInt8]? {
        if case .complete(let v4) = IPAddressText.parseIPv4(text) { return v4 }
        if case .complete(let v6) = IPAddressText.parseIPv6(text) { return v6 }
        return nil
    }
}
