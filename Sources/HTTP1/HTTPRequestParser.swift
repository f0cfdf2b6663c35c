/// Bounds the parser enforces; anything larger is refused before it is buffered.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line plus header fields plus the blank line, in bytes.
    public var maxHeaderBytes: Int
    /// Largest Content-Length accepted.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16384, maxBodyBytes: Int = 1_048_576) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

public enum HTTPParseResult: Sendable, Equatable {
    /// The bytes so far are the beginning of a request that is not yet complete.
    case needMore
    /// A complete request; `consumed` bytes belong to it, anything after is the next request.
    case request(HTTPRequest, consumed: Int)
    /// Send `status`, then close: the framing can no longer be trusted.
    case error(HTTPParseError)
}

/// A strict HTTP/1.1 request parser (RFC 9110, RFC 9112) without I/O.
///
/// Call it with every byte buffered so far; it parses from the start each time and returns
/// `.needMore` until the head and the whole body are present. Lines are checked in order as
/// they arrive, so an error is reported as soon as the line that causes it is complete, and
/// feeding the bytes in any chunking gives the same result as feeding them at once.
///
/// Choices where the RFCs leave room:
/// - one empty line (CRLF) before the request-line is ignored (RFC 9112 §2.2); a second is an error;
/// - request bodies are framed by Content-Length only: any Transfer-Encoding is refused (501),
///   Transfer-Encoding together with Content-Length is 400 (RFC 9112 §6.1 smuggling vector);
/// - header values may carry obs-text only if the value is valid UTF-8;
/// - the request-target may hold any VCHAR except `"`, `#`, `<`, `>` (what browsers leave
///   unescaped), and every "%" must start a valid %XX escape;
/// - any HTTP version other than 1.0 and 1.1 is 505.
public enum HTTPRequestParser {
    /// RFC 9112 §3 recommends supporting request lines of at least 8000 octets.
    public static let maxRequestLineBytes = 8192

    public static func parse(_ bytes: [UInt8], limits: HTTPLimits) -> HTTPParseResult {
        bytes.withUnsafeBytes { parse($0, limits: limits) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits) -> HTTPParseResult {
        var parser = RequestParser(buffer: bytes, limits: limits)
        do {
            return try parser.parse()
        } catch {
            return .error(error)
        }
    }
}

private struct RequestParser {
    let buffer: UnsafeRawBufferPointer
    let limits: HTTPLimits
    var position = 0

    init(buffer: UnsafeRawBufferPointer, limits: HTTPLimits) {
        self.buffer = buffer
        self.limits = limits
    }

    mutating func parse() throws(HTTPParseError) -> HTTPParseResult {
        guard try skipLeadingEmptyLine() else { return .needMore }
        guard let requestLine = try nextLine(isRequestLine: true) else { return .needMore }
        if requestLine.isEmpty {
            throw HTTPParseError(status: 400, code: .emptyLineBeforeRequest,
                                 reason: "more than one empty line before the request line")
        }
        let start = try parseRequestLine(buffer[requestLine])

        var headers: [HTTPHeader] = []
        var hostCount = 0
        var contentLength: Int?
        var transferEncoding = false
        while true {
            guard let line = try nextLine(isRequestLine: false) else { return .needMore }
            if line.isEmpty { break }
            let field = buffer[line]
            let (nameEnd, header) = try parseFieldLine(field)
            let name = field[field.startIndex..<nameEnd]

            if ASCII.caseInsensitiveEquals(name, "host") {
                hostCount += 1
                if hostCount > 1 {
                    // RFC 9112 §3.2: more than one Host field line is a 400.
                    throw HTTPParseError(status: 400, code: .duplicateHost, reason: "more than one Host field")
                }
                guard Authority.isValid(header.value.utf8) else {
                    throw HTTPParseError(status: 400, code: .invalidHost, reason: "Host is not uri-host [ \":\" port ]")
                }
            } else if ASCII.caseInsensitiveEquals(name, "content-length") {
                if transferEncoding { throw Self.transferEncodingWithContentLength() }
                if contentLength != nil {
                    // RFC 9110 §8.6 allows merging equal values; we refuse, a proxy in front
                    // might have picked the other one.
                    throw HTTPParseError(status: 400, code: .duplicateContentLength,
                                         reason: "more than one Content-Length field")
                }
                let length = try Self.contentLength(header.value)
                if length > limits.maxBodyBytes {
                    throw HTTPParseError(status: 413, code: .bodyTooLarge,
                                         reason: "Content-Length \(header.value) exceeds \(limits.maxBodyBytes)")
                }
                contentLength = length
            } else if ASCII.caseInsensitiveEquals(name, "transfer-encoding") {
                if contentLength != nil { throw Self.transferEncodingWithContentLength() }
                transferEncoding = true
            }
            headers.append(header)
        }

        if start.versionMinor == 1 && hostCount == 0 {
            throw HTTPParseError(status: 400, code: .missingHost, reason: "HTTP/1.1 request without Host")
        }
        if transferEncoding {
            throw HTTPParseError(status: 501, code: .transferEncodingUnsupported,
                                 reason: "request bodies with Transfer-Encoding are not accepted")
        }

        let bodyLength = contentLength ?? 0
        guard buffer.count - position >= bodyLength else { return .needMore }
        let body = [UInt8](buffer[position..<(position + bodyLength)])
        let request = HTTPRequest(method: start.method, target: start.target,
                                  versionMinor: start.versionMinor, headers: headers, body: body)
        return .request(request, consumed: position + bodyLength)
    }

    // MARK: Lines

    /// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    /// Returns false when the buffer ends inside that line.
    mutating func skipLeadingEmptyLine() throws(HTTPParseError) -> Bool {
        guard let first = buffer.first else { return false }
        if first == ASCII.cr {
            guard buffer.count >= 2 else { return false }
            guard buffer[1] == ASCII.lf else { throw Self.bareCR() }
            position = 2
        }
        return true
    }

    /// The next line's content (without CRLF), or nil when the buffer ends first. Size limits
    /// are checked byte by byte so a prefix fails exactly where the whole input would.
    mutating func nextLine(isRequestLine: Bool) throws(HTTPParseError) -> Range<Int>? {
        let start = position
        var i = start
        var requestLine = RequestLineScanner()
        while i < buffer.count {
            if i >= limits.maxHeaderBytes { throw Self.headerTooLarge(limits) }
            let byte = buffer[i]
            if byte == ASCII.cr {
                guard i + 1 < buffer.count else { return nil }
                if i + 1 >= limits.maxHeaderBytes { throw Self.headerTooLarge(limits) }
                guard buffer[i + 1] == ASCII.lf else { throw Self.bareCR() }
                position = i + 2
                return start..<i
            }
            if byte == ASCII.lf {
                throw HTTPParseError(status: 400, code: .invalidLineEnding, reason: "bare LF in the request head")
            }
            if isRequestLine {
                if i - start >= HTTPRequestParser.maxRequestLineBytes {
                    throw HTTPParseError(status: 414, code: .requestLineTooLong,
                                         reason: "request line longer than \(HTTPRequestParser.maxRequestLineBytes) bytes")
                }
                try requestLine.accept(byte)
            }
            i += 1
        }
        return nil
    }

    // MARK: Request line

    struct StartLine {
        var method: String
        var target: String
        var versionMinor: Int
    }

    /// request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
    func parseRequestLine(_ line: UnsafeRawBufferPointer.SubSequence) throws(HTTPParseError) -> StartLine {
        guard let sp1 = line.firstIndex(of: ASCII.sp) else {
            throw HTTPParseError(status: 400, code: .invalidRequestLine, reason: "request line has no space")
        }
        let method = line[line.startIndex..<sp1]
        guard !method.isEmpty, method.allSatisfy(ASCII.isTokenChar) else {
            throw HTTPParseError(status: 400, code: .invalidMethod, reason: "method is not a token")
        }
        let afterMethod = line[(sp1 + 1)...]
        guard let sp2 = afterMethod.firstIndex(of: ASCII.sp) else {
            throw HTTPParseError(status: 400, code: .invalidRequestLine, reason: "request line has no HTTP version")
        }
        let target = afterMethod[afterMethod.startIndex..<sp2]
        guard !target.isEmpty else {
            throw HTTPParseError(status: 400, code: .invalidRequestLine, reason: "empty request-target")
        }
        let minor = try Self.versionMinor(afterMethod[(sp2 + 1)...])
        let methodString = String(decoding: method, as: UTF8.self)
        let targetString = try Self.validateTarget(target, method: methodString)
        return StartLine(method: methodString, target: targetString, versionMinor: minor)
    }

    /// HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
    static func versionMinor(_ v: UnsafeRawBufferPointer.SubSequence) throws(HTTPParseError) -> Int {
        let prefix = "HTTP/".utf8
        guard v.count == 8, v.prefix(5).elementsEqual(prefix),
              ASCII.isDigit(v[v.startIndex + 5]), v[v.startIndex + 6] == UInt8(ascii: "."),
              ASCII.isDigit(v[v.startIndex + 7])
        else {
            throw HTTPParseError(status: 400, code: .invalidVersion, reason: "malformed HTTP version")
        }
        let major = v[v.startIndex + 5] - UInt8(ascii: "0")
        let minor = v[v.startIndex + 7] - UInt8(ascii: "0")
        guard major == 1, minor <= 1 else {
            throw HTTPParseError(status: 505, code: .unsupportedVersion, reason: "HTTP/\(major).\(minor) is not supported")
        }
        return Int(minor)
    }

    /// origin-form, absolute-form (http/https) or asterisk-form for OPTIONS (RFC 9112 §3.2);
    /// authority-form (CONNECT) is refused.
    static func validateTarget(_ t: UnsafeRawBufferPointer.SubSequence, method: String) throws(HTTPParseError) -> String {
        func invalid(_ reason: String) -> HTTPParseError {
            HTTPParseError(status: 400, code: .invalidTarget, reason: reason)
        }
        var i = t.startIndex
        while i < t.endIndex {
            let b = t[i]
            switch b {
            case ASCII.percent:
                guard i + 2 < t.endIndex, ASCII.isHexDigit(t[i + 1]), ASCII.isHexDigit(t[i + 2]) else {
                    throw invalid("malformed %-escape in request-target")
                }
                i += 3
                continue
            case 0x21...0x7E where b != UInt8(ascii: "\"") && b != UInt8(ascii: "#")
                && b != UInt8(ascii: "<") && b != UInt8(ascii: ">"):
                break
            default:
                throw invalid("byte 0x\(String(b, radix: 16)) not allowed in request-target")
            }
            i += 1
        }
        let target = String(decoding: t, as: UTF8.self)
        if target == "*" {
            guard method == "OPTIONS" else { throw invalid("asterisk-form is only for OPTIONS") }
            return target
        }
        if t.first == ASCII.slash { return target }
        if let schemeEnd = RequestTarget.schemeEnd(of: Substring(target)) {
            let rest = target[schemeEnd...]
            let end = rest.utf8.firstIndex { $0 == ASCII.slash || $0 == ASCII.question } ?? rest.endIndex
            let authority = rest[..<end]
            // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error; Authority refuses "@".
            guard !authority.isEmpty, Authority.isValid(authority.utf8) else {
                throw invalid("bad authority in absolute-form")
            }
            return target
        }
        throw invalid("request-target is not origin-form, absolute-form or asterisk-form")
    }

    // MARK: Header fields

    /// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). Returns the end of the
    /// name within `line` and the header.
    func parseFieldLine(_ line: UnsafeRawBufferPointer.SubSequence) throws(HTTPParseError) -> (Int, HTTPHeader) {
        if let first = line.first, first == ASCII.sp || first == ASCII.htab {
            // RFC 9112 §5.2: obs-fold; a server may reject it with 400.
            throw HTTPParseError(status: 400, code: .obsoleteLineFolding, reason: "obsolete line folding")
        }
        guard let colon = line.firstIndex(where: { !ASCII.isTokenChar($0) }), line[colon] == ASCII.colon,
              colon > line.startIndex
        else {
            // Includes whitespace between name and colon (RFC 9112 §5.1: MUST reject with 400).
            throw HTTPParseError(status: 400, code: .invalidHeaderName, reason: "field name is not a token followed by ':'")
        }
        var start = colon + 1
        var end = line.endIndex
        while start < end, line[start] == ASCII.sp || line[start] == ASCII.htab { start += 1 }
        while end > start, line[end - 1] == ASCII.sp || line[end - 1] == ASCII.htab { end -= 1 }
        let value = line[start..<end]
        var ascii = true
        for b in value {
            switch b {
            case ASCII.htab, 0x20...0x7E: continue
            case 0x80...0xFF: ascii = false
            default:
                throw HTTPParseError(status: 400, code: .invalidHeaderValue, reason: "control character in a field value")
            }
        }
        let valueString: String
        if ascii {
            valueString = String(decoding: value, as: UTF8.self)
        } else {
            guard let decoded = String(strictUTF8: value) else {
                throw HTTPParseError(status: 400, code: .invalidHeaderValue, reason: "field value is not valid UTF-8")
            }
            valueString = decoded
        }
        let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
        return (colon, HTTPHeader(name: name, value: valueString))
    }

    /// Content-Length = 1*DIGIT (RFC 9110 §8.6); a list, even of equal values, is refused.
    static func contentLength(_ value: String) throws(HTTPParseError) -> Int {
        guard !value.isEmpty, value.utf8.allSatisfy(ASCII.isDigit) else {
            throw HTTPParseError(status: 400, code: .invalidContentLength, reason: "Content-Length is not 1*DIGIT")
        }
        var result = 0
        for digit in value.utf8 {
            let (times10, o1) = result.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if o1 || o2 { return Int.max }  // digits only, just absurdly large: 413
            result = sum
        }
        return result
    }

    // MARK: Errors used in several places

    static func bareCR() -> HTTPParseError {
        HTTPParseError(status: 400, code: .invalidLineEnding, reason: "CR not followed by LF in the request head")
    }

    static func headerTooLarge(_ limits: HTTPLimits) -> HTTPParseError {
        HTTPParseError(status: 431, code: .headerTooLarge, reason: "request head larger than \(limits.maxHeaderBytes) bytes")
    }

    static func transferEncodingWithContentLength() -> HTTPParseError {
        HTTPParseError(status: 400, code: .transferEncodingWithContentLength,
                       reason: "both Transfer-Encoding and Content-Length")
    }
}

/// authority = uri-host [ ":" port ] without userinfo (RFC 9110 §7.2, RFC 3986 §3.2).
enum Authority {
    static func isValid(_ s: some Collection<UInt8>) -> Bool {
        let bytes = Array(s)
        var i = 0
        if bytes.first == UInt8(ascii: "[") {
            // IP-literal: checked loosely (hex, ":" and "." for an embedded IPv4, "v" futures).
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            for b in bytes[1..<close] {
                guard ASCII.isHexDigit(b) || b == ASCII.colon || b == UInt8(ascii: ".")
                    || b == UInt8(ascii: "v") || b == UInt8(ascii: "V") else { return false }
            }
            i = close + 1
        } else {
            while i < bytes.count, bytes[i] != ASCII.colon {
                let b = bytes[i]
                if b == ASCII.percent {
                    guard i + 2 < bytes.count, ASCII.isHexDigit(bytes[i + 1]), ASCII.isHexDigit(bytes[i + 2]) else {
                        return false
                    }
                    i += 3
                    continue
                }
                guard ASCII.isUnreservedOrSubDelim(b) else { return false }
                i += 1
            }
        }
        guard i < bytes.count else { return true }
        guard bytes[i] == ASCII.colon else { return false }
        return bytes[(i + 1)...].allSatisfy(ASCII.isDigit)
    }
}
