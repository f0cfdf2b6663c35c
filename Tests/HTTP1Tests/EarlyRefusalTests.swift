import HTTP1
import Testing

/// A request line that can no longer become valid is refused at the byte that proves it, not
/// when the CRLF (or the header timeout) finally comes: a client sending TLS, SSH or noise to
/// the HTTP parser gets its 400 at once. Fed one byte at a time, as the slowest client would.
@Suite struct EarlyRefusalTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var input: [UInt8]
        var code: HTTPParseError.Code
        /// How many bytes it takes to know.
        var decidedAfter: Int
        var testDescription: String { name }

        init(_ name: String, _ input: [UInt8], _ code: HTTPParseError.Code, after: Int) {
            self.name = name
            self.input = input
            self.code = code
            self.decidedAfter = after
        }

        init(_ name: String, _ input: String, _ code: HTTPParseError.Code, after: Int) {
            self.init(name, Array(input.utf8), code, after: after)
        }
    }

    static let cases: [Case] = [
        // A TLS ClientHello sent to a plain-HTTP port: the record type 0x16 is not a token byte.
        Case("TLS record", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03], .invalidMethod, after: 1),
        Case("binary noise", [0x00, 0xFF, 0x13, 0x37], .invalidMethod, after: 1),
        Case("leading space", " GET / HTTP/1.1", .invalidMethod, after: 1),
        Case("control byte in method", "GE\u{7}T / HTTP/1.1", .invalidMethod, after: 3),
        Case("no space, just text", "hello world, is anybody there?", .invalidTarget, after: 7),
        Case("SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", .invalidTarget, after: 23),
        Case("two spaces", "GET  / HTTP/1.1", .invalidRequestLine, after: 5),
        Case("relative target", "GET index.html HTTP/1.1", .invalidTarget, after: 5),
        Case("other scheme", "GET ftp://host/ HTTP/1.1", .invalidTarget, after: 5),
        Case("scheme that diverges late", "GET https//host/ HTTP/1.1", .invalidTarget, after: 10),
        Case("asterisk with more", "OPTIONS *x HTTP/1.1", .invalidTarget, after: 10),
        Case("bad percent escape", "GET /a%zz HTTP/1.1", .invalidTarget, after: 8),
        Case("escape cut by the space", "GET /a%4 HTTP/1.1", .invalidTarget, after: 9),
        Case("fragment", "GET /a#b HTTP/1.1", .invalidTarget, after: 7),
        Case("non-ASCII target", "GET /città HTTP/1.1", .invalidTarget, after: 10),
        Case("lowercase protocol", "GET / http/1.1", .invalidVersion, after: 7),
        Case("third word", "GET / HTTP/1.1 extra", .invalidVersion, after: 15),
        Case("version letters", "GET / HTTP/1.x", .invalidVersion, after: 14),
    ]

    @Test(arguments: cases)
    func refusedAtTheByteThatProvesIt(_ c: Case) throws {
        let (result, fed) = feedByteByByte(c.input)
        let error = try #require(result.error, "\(c.name): still waiting after \(fed) bytes")
        #expect(error.status == 400 && error.code == c.code, "\(c.name): \(error)")
        #expect(fed == c.decidedAfter, "\(c.name): decided after \(fed) bytes")
        // The same answer when the rest of the line, and a CRLF, arrive in one piece.
        #expect(HTTPRequestParser.parse(c.input + [0x0D, 0x0A, 0x0D, 0x0A], limits: HTTPLimits()) == result)
    }

    /// Every prefix of a request line that can still become valid keeps waiting.
    @Test(arguments: ["GET / HTTP/1.1", "POST /token?x=%41 HTTP/1.0", "OPTIONS * HTTP/1.1", "GET http://h:8/p HTTP/1.1",
                      "GET HTTPS://H/ HTTP/1.1", "M-SEARCH /x HTTP/1.1", "GET /a%2f%2F HTTP/1.1"])
    func validPrefixesWait(_ line: String) {
        let bytes = Array(line.utf8)
        for n in 0...bytes.count {
            #expect(HTTPRequestParser.parse(Array(bytes[0..<n]), limits: HTTPLimits()).isNeedMore, "\(line) cut at \(n)")
        }
    }
}
