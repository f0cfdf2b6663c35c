/// Decides, one byte at a time, whether the request line received so far can still become a
/// valid `method SP request-target SP HTTP-version` (RFC 9112 §3). Bytes that prove it cannot
/// (a TLS record sent in clear, an SSH banner, binary noise, a stray space) are refused at once,
/// so such a client gets its 400 immediately instead of holding the connection until
/// `header_timeout`, and a line that is only incomplete waits as before.
///
/// The parser feeds it every byte of the request line before the CR, after its own line-ending
/// and size checks for that byte, so whatever the chunking the first refusing byte decides, and a
/// result reached on a prefix is the result of the whole input. Checks that need the whole line
/// (which method may use asterisk-form, the authority of an absolute-form target, the version
/// number) stay in `parseRequestLine`.
struct RequestLineScanner {
    private enum Phase {
        case method
        case target
        case version
    }

    private enum TargetForm {
        case undecided
        /// "/..." (origin-form).
        case origin
        /// "*" (asterisk-form): nothing may follow it.
        case asterisk
        /// A prefix of "http://" or "https://" so far (case-insensitive).
        case scheme
        /// The scheme is complete: the rest is authority, path and query.
        case absolute
    }

    private var phase = Phase.method
    /// Bytes of the current part (method, target or version) so far.
    private var length = 0
    private var form = TargetForm.undecided
    /// Hex digits still owed to the last "%" of the target.
    private var owedHexDigits = 0
    /// Bit i set while the target is still a prefix of `schemes[i]`.
    private var schemeCandidates = 0b11

    private static let schemes: [[UInt8]] = [Array("http://".utf8), Array("https://".utf8)]
    private static let version: [UInt8] = Array("HTTP/".utf8)

    mutating func accept(_ byte: UInt8) throws(HTTPParseError) {
        switch phase {
        case .method: try method(byte)
        case .target: try target(byte)
        case .version: try version(byte)
        }
    }

    /// method = token (RFC 9110 §9.1), ended by one SP.
    private mutating func method(_ byte: UInt8) throws(HTTPParseError) {
        if byte == ASCII.sp {
            guard length > 0 else { throw HTTPParseError(status: 400, code: .invalidMethod, reason: "method is not a token") }
            phase = .target
            length = 0
            return
        }
        guard ASCII.isTokenChar(byte) else {
            throw HTTPParseError(status: 400, code: .invalidMethod, reason: "byte 0x\(String(byte, radix: 16)) cannot be in a method")
        }
        length += 1
    }

    /// The byte classes `validateTarget` accepts, and the start of one of the three forms.
    private mutating func target(_ byte: UInt8) throws(HTTPParseError) {
        func invalid(_ reason: String) -> HTTPParseError { HTTPParseError(status: 400, code: .invalidTarget, reason: reason) }
        if byte == ASCII.sp {
            guard length > 0 else { throw HTTPParseError(status: 400, code: .invalidRequestLine, reason: "empty request-target") }
            guard owedHexDigits == 0 else { throw invalid("malformed %-escape in request-target") }
            guard form != .scheme else { throw invalid("request-target is not origin-form, absolute-form or asterisk-form") }
            phase = .version
            length = 0
            return
        }
        if form == .undecided {
            form = byte == ASCII.slash ? .origin : byte == UInt8(ascii: "*") ? .asterisk : .scheme
            if form != .scheme {
                length += 1
                return
            }
        }
        switch form {
        case .asterisk:
            throw invalid("asterisk-form is a lone \"*\"")
        case .scheme:
            // The schemes' letters, ":" and "/" are plain target bytes: only the match matters here.
            let lowered = ASCII.lower(byte)
            for (i, scheme) in Self.schemes.enumerated() where schemeCandidates & (1 << i) != 0 {
                if length >= scheme.count || scheme[length] != lowered { schemeCandidates &= ~(1 << i) }
            }
            guard schemeCandidates != 0 else {
                throw invalid("request-target is not origin-form, absolute-form or asterisk-form")
            }
            if Self.schemes.indices.contains(where: { schemeCandidates & (1 << $0) != 0 && Self.schemes[$0].count == length + 1 }) {
                form = .absolute
            }
        case .undecided, .origin, .absolute:
            if owedHexDigits > 0 {
                guard ASCII.isHexDigit(byte) else { throw invalid("malformed %-escape in request-target") }
                owedHexDigits -= 1
            } else if byte == ASCII.percent {
                owedHexDigits = 2
            } else {
                switch byte {
                case 0x21...0x7E where byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "#")
                    && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">"):
                    break
                default:
                    throw invalid("byte 0x\(String(byte, radix: 16)) not allowed in request-target")
                }
            }
        }
        length += 1
    }

    /// "HTTP/" DIGIT "." DIGIT and nothing more before the CR (RFC 9112 §2.3). Which version
    /// it names (505 for anything but 1.0 and 1.1) is decided on the whole line.
    private mutating func version(_ byte: UInt8) throws(HTTPParseError) {
        let fits: Bool = switch length {
        case 0..<5: byte == Self.version[length]
        case 5, 7: ASCII.isDigit(byte)
        case 6: byte == UInt8(ascii: ".")
        default: false
        }
        guard fits else { throw HTTPParseError(status: 400, code: .invalidVersion, reason: "malformed HTTP version") }
        length += 1
    }
}
