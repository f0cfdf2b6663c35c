/// application/x-www-form-urlencoded parsing as the WHATWG URL Standard §5.1 defines it:
/// split on "&", skip empty pieces, split each at the first "=", "+" means space, "%XX" is a
/// byte. Used for both the query string and POST bodies (the OIDC /token endpoint).
public enum FormURLEncoding {
    /// Lenient decoding (what browsers do): a "%" not followed by two hex digits stays literal
    /// and invalid UTF-8 becomes U+FFFD.
    public static func decode(_ bytes: some Sequence<UInt8>) -> [(name: String, value: String)] {
        pairs(bytes).map { pair in
            (String(decoding: unescape(pair.name).bytes, as: UTF8.self),
             String(decoding: unescape(pair.value).bytes, as: UTF8.self))
        }
    }

    /// Strict decoding: nil when any "%" is not followed by two hex digits or a decoded name
    /// or value is not valid UTF-8. For parameters whose exact value matters (redirect_uri,
    /// code, code_verifier), where repairing input would hide tampering.
    public static func decodeStrict(_ bytes: some Sequence<UInt8>) -> [(name: String, value: String)]? {
        var result: [(name: String, value: String)] = []
        for pair in pairs(bytes) {
            let name = unescape(pair.name)
            let value = unescape(pair.value)
            guard name.wellFormed, value.wellFormed,
                  let nameString = String(strictUTF8: name.bytes),
                  let valueString = String(strictUTF8: value.bytes)
            else { return nil }
            result.append((nameString, valueString))
        }
        return result
    }

    private static func pairs(_ bytes: some Sequence<UInt8>) -> [(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>)] {
        let all = Array(bytes)
        return all.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { piece in
            if let eq = piece.firstIndex(of: UInt8(ascii: "=")) {
                return (piece[..<eq], piece[(eq + 1)...])
            }
            return (piece, piece[piece.endIndex...])
        }
    }

    /// The decoded bytes; a "%" without two hex digits after it is kept literally and
    /// makes the result not well-formed.
    private static func unescape(_ s: ArraySlice<UInt8>) -> (bytes: [UInt8], wellFormed: Bool) {
        var wellFormed = true
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        while i < s.endIndex {
            let b = s[i]
            if b == UInt8(ascii: "+") {
                out.append(ASCII.sp)
            } else if b == ASCII.percent {
                if i + 2 < s.endIndex, let hi = ASCII.hexValue(s[i + 1]), let lo = ASCII.hexValue(s[i + 2]) {
                    out.append(hi << 4 | lo)
                    i += 3
                    continue
                }
                wellFormed = false
                out.append(b)
            } else {
                out.append(b)
            }
            i += 1
        }
        return (out, wellFormed)
    }
}
