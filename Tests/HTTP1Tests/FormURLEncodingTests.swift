import HTTP1
import Testing

@Suite struct FormURLEncodingTests {
    func pairs(_ items: [(name: String, value: String)]) -> [String] { items.map { "\($0.name)=\($0.value)" } }

    @Test func queryItemsDecodePlusAndPercent() throws {
        let r = try #require(parse("GET /a?a=1&b=x+y&c=%41%2B%25&&d&e=&=f&g=h=i HTTP/1.1\r\nHost: h\r\n\r\n").request)
        #expect(pairs(r.queryItems()) == ["a=1", "b=x y", "c=A+%", "d=", "e=", "=f", "g=h=i"])
    }

    @Test func noQueryMeansNoItems() throws {
        #expect(try #require(parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n").request).queryItems().isEmpty)
        #expect(try #require(parse("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n").request).queryItems().isEmpty)
    }

    @Test func formItemsDecodeTheBody() throws {
        let body = "grant_type=authorization_code&code=Sp1x%2Fl&redirect_uri=https%3A%2F%2Frp.example%2Fcb"
        let r = try #require(parse("POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)").request)
        #expect(pairs(r.formItems()) == ["grant_type=authorization_code", "code=Sp1x/l", "redirect_uri=https://rp.example/cb"])
    }

    @Test func utf8IsDecodedAndInvalidUTF8Replaced() {
        #expect(pairs(FormURLEncoding.decode(bytes("n=Niccol%C3%B2"))) == ["n=Niccolò"])
        #expect(pairs(FormURLEncoding.decode(bytes("n=%FF"))) == ["n=\u{FFFD}"])
        #expect(pairs(FormURLEncoding.decode(bytes("%"))) == ["%="])
        #expect(pairs(FormURLEncoding.decode(bytes("a=%2"))) == ["a=%2"])
    }

    @Test func strictDecodingRefusesWhatLenientRepairs() {
        #expect(FormURLEncoding.decodeStrict(bytes("a=1&b=%41")).map(pairs) == ["a=1", "b=A"])
        #expect(FormURLEncoding.decodeStrict(bytes("a=%zz")) == nil)
        #expect(FormURLEncoding.decodeStrict(bytes("a=%4")) == nil)
        #expect(FormURLEncoding.decodeStrict(bytes("a=%FF")) == nil)
        #expect(FormURLEncoding.decodeStrict(bytes("%C3=x")) == nil)
        #expect(FormURLEncoding.decodeStrict(bytes("a=%C0%AF")) == nil)     // overlong "/"
        #expect(FormURLEncoding.decodeStrict(bytes("a=%ED%A0%80")) == nil)  // UTF-16 surrogate
        #expect(FormURLEncoding.decodeStrict(bytes("a=%F0%9F%92%B3")).map(pairs) == ["a=💳"])
        #expect(FormURLEncoding.decodeStrict(bytes(""))?.isEmpty == true)
    }
}
