import HTTP1
import Testing

/// One malformed input and the error it must produce.
struct Malformed: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var status: Int
    var code: HTTPParseError.Code
    var limits = HTTPLimits()

    init(_ name: String, _ input: String, _ status: Int, _ code: HTTPParseError.Code, limits: HTTPLimits = HTTPLimits()) {
        self.init(name, Array(input.utf8), status, code, limits: limits)
    }

    init(_ name: String, _ input: [UInt8], _ status: Int, _ code: HTTPParseError.Code, limits: HTTPLimits = HTTPLimits()) {
        self.name = name
        self.input = input
        self.status = status
        self.code = code
        self.limits = limits
    }

    var testDescription: String { name }
}

private let ok = "GET / HTTP/1.1\r\nHost: h\r\n"
private func withHeader(_ line: String) -> String { ok + line + "\r\n\r\n" }

let malformedCorpus: [Malformed] = [
    // Line endings (RFC 9112 §2.2)
    Malformed("bare LF after request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400, .invalidLineEnding),
    Malformed("bare LF after header", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400, .invalidLineEnding),
    Malformed("bare LF as final empty line", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400, .invalidLineEnding),
    Malformed("bare CR inside header", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, .invalidLineEnding),
    Malformed("bare CR in request line", "GET /\r HTTP/1.1\r\n", 400, .invalidLineEnding),
    Malformed("CR CR LF", "GET / HTTP/1.1\r\r\n", 400, .invalidLineEnding),
    Malformed("leading bare LF", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidLineEnding),
    Malformed("leading CR then garbage", "\rGET / HTTP/1.1\r\n", 400, .invalidLineEnding),
    Malformed("two leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, .emptyLineBeforeRequest),

    // Request line (RFC 9112 §3)
    Malformed("double space after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidRequestLine),
    Malformed("double space before version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("trailing space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidMethod),
    Malformed("HTTP/0.9 style", "GET /\r\n\r\n", 400, .invalidRequestLine),
    Malformed("method only", "GET\r\n\r\n", 400, .invalidRequestLine),
    Malformed("method with separator", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidMethod),
    Malformed("tab between method and target", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidMethod),
    Malformed("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, .unsupportedVersion),
    Malformed("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, .unsupportedVersion),
    Malformed("HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, .unsupportedVersion),
    Malformed("HTTP/3", "GET / HTTP/3\r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("lowercase http", "GET / http/1.1\r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("version with letters", "GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400, .invalidVersion),
    Malformed("three spaces parts", "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400, .invalidVersion),

    // Request target (RFC 9112 §3.2)
    Malformed("relative target", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("asterisk for GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("authority-form CONNECT", "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 400, .invalidTarget),
    Malformed("fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("truncated percent escape", "GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("angle bracket", "GET /<script> HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("double quote", "GET /\"x\" HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("DEL in target", "GET /\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("NUL in target", "GET /\u{0} HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("non-ASCII target", "GET /città HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("ftp absolute-form", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("userinfo in absolute-form", "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),
    Malformed("empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400, .invalidTarget),

    // Host (RFC 9112 §3.2)
    Malformed("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, .missingHost),
    Malformed("duplicate Host", withHeader("Host: h"), 400, .duplicateHost),
    Malformed("duplicate Host different case", withHeader("hOST: other"), 400, .duplicateHost),
    Malformed("duplicate Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, .duplicateHost),
    Malformed("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, .invalidHost),
    Malformed("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400, .invalidHost),
    Malformed("Host with path", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", 400, .invalidHost),
    Malformed("Host with bad port", "GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n", 400, .invalidHost),
    Malformed("Host unclosed bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, .invalidHost),

    // Field lines (RFC 9112 §5)
    Malformed("obs-fold", withHeader("X: a\r\n  b"), 400, .obsoleteLineFolding),
    Malformed("obs-fold with tab", withHeader("X: a\r\n\tb"), 400, .obsoleteLineFolding),
    Malformed("whitespace before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, .obsoleteLineFolding),
    Malformed("space before colon", withHeader("X : a"), 400, .invalidHeaderName),
    Malformed("tab before colon", withHeader("X\t: a"), 400, .invalidHeaderName),
    Malformed("space in name", withHeader("X Y: a"), 400, .invalidHeaderName),
    Malformed("empty name", withHeader(": a"), 400, .invalidHeaderName),
    Malformed("no colon", withHeader("NoColon"), 400, .invalidHeaderName),
    Malformed("separator in name", withHeader("X(y): a"), 400, .invalidHeaderName),
    Malformed("non-ASCII name", withHeader("Città: a"), 400, .invalidHeaderName),
    Malformed("NUL in value", withHeader("X: a\u{0}b"), 400, .invalidHeaderValue),
    Malformed("SOH in value", withHeader("X: a\u{1}b"), 400, .invalidHeaderValue),
    Malformed("ESC in value", withHeader("X: \u{1B}[31m"), 400, .invalidHeaderValue),
    Malformed("DEL in value", withHeader("X: a\u{7F}"), 400, .invalidHeaderValue),
    Malformed("invalid UTF-8 in value", Array(ok.utf8) + [0x58, 0x3A, 0x20, 0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A], 400, .invalidHeaderValue),

    // Framing (RFC 9112 §6)
    Malformed("Transfer-Encoding chunked", withHeader("Transfer-Encoding: chunked"), 501, .transferEncodingUnsupported),
    Malformed("Transfer-Encoding identity", withHeader("Transfer-Encoding: identity"), 501, .transferEncodingUnsupported),
    Malformed("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 501, .transferEncodingUnsupported),
    Malformed("TE then CL", withHeader("Transfer-Encoding: chunked\r\nContent-Length: 3"), 400, .transferEncodingWithContentLength),
    Malformed("CL then TE", withHeader("Content-Length: 3\r\nTransfer-Encoding: chunked"), 400, .transferEncodingWithContentLength),
    Malformed("CL list", withHeader("Content-Length: 5, 5"), 400, .invalidContentLength),
    Malformed("CL twice, equal", withHeader("Content-Length: 5\r\nContent-Length: 5"), 400, .duplicateContentLength),
    Malformed("CL twice, different", withHeader("Content-Length: 5\r\ncontent-length: 6"), 400, .duplicateContentLength),
    Malformed("CL negative", withHeader("Content-Length: -1"), 400, .invalidContentLength),
    Malformed("CL plus sign", withHeader("Content-Length: +5"), 400, .invalidContentLength),
    Malformed("CL empty", withHeader("Content-Length:"), 400, .invalidContentLength),
    Malformed("CL hex", withHeader("Content-Length: 0x10"), 400, .invalidContentLength),
    Malformed("CL with inner space", withHeader("Content-Length: 1 0"), 400, .invalidContentLength),
    Malformed("CL over limit", withHeader("Content-Length: 1048577"), 413, .bodyTooLarge),
    Malformed("CL overflowing Int", withHeader("Content-Length: 99999999999999999999999999"), 413, .bodyTooLarge),

    // Sizes
    Malformed("request line over 8192", "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: h\r\n\r\n",
              414, .requestLineTooLong, limits: HTTPLimits(maxHeaderBytes: 65536)),
    Malformed("head over maxHeaderBytes", withHeader("X: " + String(repeating: "a", count: 300)),
              431, .headerTooLarge, limits: HTTPLimits(maxHeaderBytes: 256)),
    Malformed("many small headers", ok + String(repeating: "A: b\r\n", count: 3000) + "\r\n", 431, .headerTooLarge),
    Malformed("incomplete head over maxHeaderBytes", ok + String(repeating: "A: b\r\n", count: 3000), 431, .headerTooLarge),
]

@Suite struct MalformedRequestTests {
    @Test func corpusIsLargeAndDistinct() {
        #expect(malformedCorpus.count >= 40)
        #expect(Set(malformedCorpus.map(\.input)).count == malformedCorpus.count)
        #expect(Set(malformedCorpus.map(\.name)).count == malformedCorpus.count)
    }

    @Test(arguments: malformedCorpus)
    func refusedWithExpectedStatus(_ c: Malformed) throws {
        let result = HTTPRequestParser.parse(c.input, limits: c.limits)
        let error = try #require(result.error, "\(c.name): \(result)")
        #expect(error.status == c.status, "\(c.name): \(error)")
        #expect(error.code == c.code, "\(c.name): \(error)")
    }

    /// The same error must come out when the client trickles the bytes in.
    @Test(arguments: malformedCorpus.filter { $0.input.count < 2000 })
    func byteByByteGivesSameError(_ c: Malformed) {
        let (fed, _) = feedByteByByte(c.input, limits: c.limits)
        #expect(fed == HTTPRequestParser.parse(c.input, limits: c.limits), "\(c.name)")
    }

    @Test func errorEqualityIgnoresReasonAndLocation() {
        let a = HTTPParseError(status: 400, code: .missingHost, reason: "one", line: 1)
        let b = HTTPParseError(status: 400, code: .missingHost, reason: "two", line: 2)
        #expect(a == b)
        #expect(a != HTTPParseError(status: 400, code: .duplicateHost, reason: "one"))
        #expect(a.description.contains("missing_host"))
    }
}
