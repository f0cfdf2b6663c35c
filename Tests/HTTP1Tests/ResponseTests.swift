import HTTP1
import Testing

@Suite struct ResponseTests {
    func text(_ r: HTTPResponse, keepAlive: Bool, version: Int = 1) -> String {
        String(decoding: r.serialize(keepAlive: keepAlive, requestVersionMinor: version), as: UTF8.self)
    }

    @Test func okWithBodyKeepAlive() {
        let r = HTTPResponse(status: 200, headers: [HTTPHeader(name: "Content-Type", value: "text/plain")], body: bytes("hi"))
        #expect(text(r, keepAlive: true) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
    }

    @Test func closeAddsConnectionClose() {
        let r = HTTPResponse(status: 404)
        #expect(text(r, keepAlive: false) == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    @Test func http10KeepAliveIsAnnounced() {
        #expect(text(HTTPResponse(status: 200), keepAlive: true, version: 0)
                == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func callerFramingHeadersAreReplaced() {
        let r = HTTPResponse(status: 200, headers: [
            HTTPHeader(name: "content-length", value: "999"),
            HTTPHeader(name: "Transfer-Encoding", value: "chunked"),
            HTTPHeader(name: "Connection", value: "keep-alive"),
        ], body: bytes("abc"))
        #expect(text(r, keepAlive: false) == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    }

    @Test func bodylessStatusesHaveNoLengthOrBody() {
        for status in [100, 204, 304] {
            let r = HTTPResponse(status: status, body: bytes("ignored"))
            #expect(text(r, keepAlive: true) == "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(status))\r\n\r\n")
        }
    }

    @Test func controlCharactersInValuesCannotSplitTheResponse() {
        let r = HTTPResponse(status: 302, headers: [HTTPHeader(name: "Location", value: "https://a/\r\nSet-Cookie: x=1\u{0}")])
        let out = text(r, keepAlive: true)
        #expect(out == "HTTP/1.1 302 Found\r\nLocation: https://a/  Set-Cookie: x=1 \r\nContent-Length: 0\r\n\r\n")
    }

    @Test func redirectRoundTripsThroughOurOwnHeaderRules() {
        let r = HTTPResponse(status: 302, headers: [HTTPHeader(name: "Location", value: "https://rp.example/cb?code=abc&state=xyz")])
        let out = r.serialize(keepAlive: true)
        #expect(out.count == "HTTP/1.1 302 Found\r\nLocation: https://rp.example/cb?code=abc&state=xyz\r\nContent-Length: 0\r\n\r\n".utf8.count)
    }

    @Test(arguments: [(200, "OK"), (302, "Found"), (400, "Bad Request"), (413, "Content Too Large"),
                      (414, "URI Too Long"), (431, "Request Header Fields Too Large"), (501, "Not Implemented"),
                      (505, "HTTP Version Not Supported"), (299, "Successful"), (499, "Client Error"), (599, "Server Error")])
    func reasonPhrases(_ status: Int, _ phrase: String) {
        #expect(HTTPResponse.reasonPhrase(status) == phrase)
    }
}

/// HEAD gets the head a GET would get, Content-Length included, and never a body: the body
/// bytes would be read as the start of the next response on a kept-alive connection.
@Suite struct HeadResponseTests {
    static let json = HTTPResponse(status: 200, headers: [HTTPHeader(name: "Content-Type", value: "application/json")],
                                   body: bytes("{\"keys\":[]}"))

    @Test func headKeepsTheHeadersAndLengthButSendsNoBody() {
        let get = String(decoding: Self.json.serialize(keepAlive: true, requestMethod: "GET"), as: UTF8.self)
        let head = String(decoding: Self.json.serialize(keepAlive: true, requestMethod: "HEAD"), as: UTF8.self)
        #expect(get == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"keys\":[]}")
        #expect(head == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n")
    }

    @Test(arguments: [200, 404, 405, 500])
    func noStatusGivesHeadABody(_ status: Int) {
        let response = HTTPResponse(status: status, body: bytes("{\"error\":\"x\"}"))
        for keepAlive in [true, false] {
            let out = response.serialize(keepAlive: keepAlive, requestMethod: "HEAD")
            let text = String(decoding: out, as: UTF8.self)
            #expect(text.hasSuffix("\r\n\r\n") && text.contains("Content-Length: 13\r\n"), "\(text)")
        }
    }
}
