/// Certificates as PEM text the way proxies put them in a header: every line break may have
/// become a space (Apache's mod_headers replaces CR and LF in a value) or stayed (after URL
/// unescaping, nginx and Envoy), so whitespace inside a block is ignored. Only CERTIFICATE
/// blocks are accepted, and nothing but whitespace may stand between or around them.
enum PEMText {
    static let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
    static let end = Array("-----END CERTIFICATE-----".utf8)

    /// The DER of every block, in order; at most `limit` blocks are decoded (more is an error).
    static func certificates(_ text: [UInt8], limit: Int) throws(ForwardedHeaderError) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var i = skipWhitespace(text, from: 0)
        guard i < text.count else { throw ForwardedHeaderError(.badPEM, "no PEM certificate") }
        while i < text.count {
            guard hasPrefix(text, begin, at: i) else {
                throw ForwardedHeaderError(.badPEM, "text outside a -----BEGIN CERTIFICATE----- block")
            }
            let bodyStart = i + begin.count
            guard let endAt = find(end, in: text, from: bodyStart) else {
                throw ForwardedHeaderError(.badPEM, "a certificate block without its END line")
            }
            if result.count == limit {
                throw ForwardedHeaderError(.chainTooLong, "more than \(limit) certificates")
            }
            let body = text[bodyStart..<endAt].filter { !isWhitespace($0) }
            guard let der = Base64Text.decode(body) else {
                throw ForwardedHeaderError(.badBase64, "certificate block \(result.count + 1) is not base64")
            }
            guard !der.isEmpty else { throw ForwardedHeaderError(.emptyCertificate, "certificate block \(result.count + 1) is empty") }
            result.append(der)
            i = skipWhitespace(text, from: endAt + end.count)
        }
        return result
    }

    static func isWhitespace(_ c: UInt8) -> Bool {
        c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r")
    }

    private static func skipWhitespace(_ text: [UInt8], from start: Int) -> Int {
        var i = start
        while i < text.count, isWhitespace(text[i]) { i += 1 }
        return i
    }

    private static func hasPrefix(_ text: [UInt8], _ prefix: [UInt8], at i: Int) -> Bool {
        i + prefix.count <= text.count && text[i..<(i + prefix.count)].elementsEqual(prefix)
    }

    private static func find(_ needle: [UInt8], in text: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + needle.count <= text.count {
            if text[i] == needle[0], hasPrefix(text, needle, at: i) { return i }
            i += 1
        }
        return nil
    }
}

/// URL unescaping as nginx's `$ssl_client_escaped_cert` and Envoy's XFCC need it: `%XX` is a
/// byte, everything else stands for itself (`+` included: these are not form encodings, and
/// turning `+` into a space would corrupt base64).
enum PercentText {
    static func decode(_ text: some Collection<UInt8>) throws(ForwardedHeaderError) -> [UInt8] {
        let bytes = Array(text)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let high = hex(bytes[i + 1]), let low = hex(bytes[i + 2]) else {
                    throw ForwardedHeaderError(.badPercentEncoding, "a % not followed by two hex digits")
                }
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
