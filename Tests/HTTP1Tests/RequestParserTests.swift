import HTTP1
import Testing

@Suite struct RequestParserTests {
    @Test func simpleGet() throws {
        let input = "GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: text/html\r\n\r\n"
        let result = parse(input)
        let request = try #require(result.request)
        #expect(result.consumed == input.utf8.count)
        #expect(request.method == "GET")
        #expect(request.target == "/index.html")
        #expect(request.path == "/index.html")
        #expect(request.query == nil)
        #expect(request.authority == nil)
        #expect(request.versionMinor == 1)
        #expect(request.headers == [HTTPHeader(name: "Host", value: "example.org"),
                                    HTTPHeader(name: "Accept", value: "text/html")])
        #expect(request.body.isEmpty)
    }

    @Test func pathAndQuerySplitAtFirstQuestionMark() throws {
        let request = try #require(parse("GET /a/b%2Fc?x=1?y=2 HTTP/1.1\r\nHost: h\r\n\r\n").request)
        #expect(request.path == "/a/b%2Fc")
        #expect(request.query == "x=1?y=2")
        let bare = try #require(parse("GET /? HTTP/1.1\r\nHost: h\r\n\r\n").request)
        #expect(bare.path == "/")
        #expect(bare.query == "")
    }

    @Test func postWithBody() throws {
        let head = "POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
        let input = head + "hello world"
        let request = try #require(parse(input).request)
        #expect(request.body == bytes("hello world"))
        #expect(parse(input).consumed == input.utf8.count)
        // Head complete, body not: wait.
        #expect(parse(head).isNeedMore)
        #expect(parse(head + "hello").isNeedMore)
    }

    @Test func bodyBytesBeyondContentLengthAreNotConsumed() throws {
        let first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
        let result = parse(first + "GET")
        #expect(result.request?.body == bytes("ab"))
        #expect(result.consumed == first.utf8.count)
    }

    @Test func pipelinedRequests() throws {
        let first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
        let second = "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
        var buffer = bytes(first + second)
        let r1 = HTTPRequestParser.parse(buffer, limits: HTTPLimits())
        #expect(r1.request?.path == "/one")
        #expect(r1.consumed == first.utf8.count)
        buffer.removeFirst(try #require(r1.consumed))
        let r2 = HTTPRequestParser.parse(buffer, limits: HTTPLimits())
        #expect(r2.request?.path == "/two")
        #expect(r2.request?.body == bytes("xyz"))
        #expect(r2.consumed == buffer.count)
    }

    @Test func pipelinedRequestBeforeGarbageIsStillServed() {
        let first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parse(first + "\u{1}\u{2} garbage").consumed == first.utf8.count)
    }

    @Test(arguments: validRequests)
    func byteByByteFeedingMatchesWholeParse(_ input: String) {
        let whole = parse(input)
        #expect(whole.request != nil)
        let (fed, used) = feedByteByByte(bytes(input))
        #expect(fed == whole)
        #expect(used == input.utf8.count)
    }

    @Test(arguments: validRequests)
    func everyStrictPrefixOfAValidRequestNeedsMore(_ input: String) {
        let all = bytes(input)
        for n in 0..<all.count {
            #expect(HTTPRequestParser.parse(Array(all[0..<n]), limits: HTTPLimits()).isNeedMore, "prefix \(n)")
        }
    }

    @Test func unsafeBufferOverloadMatchesArrayOverload() {
        for input in validRequests {
            let array = parse(input)
            let raw = bytes(input).withUnsafeBytes { HTTPRequestParser.parse($0, limits: HTTPLimits()) }
            #expect(array == raw)
        }
    }

    @Test func keepAliveSemantics() throws {
        func keepAlive(_ version: String, _ headers: String) throws -> Bool {
            try #require(parse("GET / \(version)\r\nHost: h\r\n\(headers)\r\n").request).keepAlive
        }
        #expect(try keepAlive("HTTP/1.1", ""))
        #expect(try !keepAlive("HTTP/1.1", "Connection: close\r\n"))
        #expect(try !keepAlive("HTTP/1.1", "Connection: Keep-Alive, CLOSE\r\n"))
        #expect(try !keepAlive("HTTP/1.1", "Connection: upgrade\r\nConnection: close\r\n"))
        #expect(try keepAlive("HTTP/1.1", "Connection: keep-alive\r\n"))
        #expect(try keepAlive("HTTP/1.1", "Connection: closed\r\n"))
        #expect(try !keepAlive("HTTP/1.0", ""))
        #expect(try keepAlive("HTTP/1.0", "Connection: keep-alive\r\n"))
        #expect(try keepAlive("HTTP/1.0", "connection: TE,  Keep-Alive \r\n"))
        #expect(try !keepAlive("HTTP/1.0", "Connection: keep-alive\r\nConnection: close\r\n"))
    }

    @Test func headerLookupIsCaseInsensitiveFirstMatch() throws {
        let request = try #require(parse("GET / HTTP/1.1\r\nhOsT: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n").request)
        #expect(request.header("Host") == "h")
        #expect(request.header("X-A") == "1")
        #expect(request.header("x-missing") == nil)
        #expect(request.headers.all(named: "X-a") == ["1", "2"])
        #expect(request.headers[0].name == "hOsT")
    }

    @Test func valuesAreTrimmedOfOptionalWhitespace() throws {
        let request = try #require(parse("GET / HTTP/1.1\r\nHost:h\r\nA: \t a b \t\r\nB:\r\nC:   \r\n\r\n").request)
        #expect(request.header("Host") == "h")
        #expect(request.header("A") == "a b")
        #expect(request.header("B") == "")
        #expect(request.header("C") == "")
    }

    @Test func utf8ObsTextIsAccepted() throws {
        let request = try #require(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Name: Niccolò\r\n\r\n").request)
        #expect(request.header("x-name") == "Niccolò")
    }

    @Test func oneLeadingEmptyLineIsIgnoredAndCounted() throws {
        let input = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parse(input).consumed == input.utf8.count)
        #expect(parse("\r").isNeedMore)
        #expect(parse("\r\n").isNeedMore)
        #expect(parse("").isNeedMore)
    }

    @Test func http10NeedsNoHost() throws {
        let request = try #require(parse("GET / HTTP/1.0\r\n\r\n").request)
        #expect(request.versionMinor == 0)
        #expect(request.header("Host") == nil)
    }

    @Test func absoluteFormTakesPathAndAuthority() throws {
        let r1 = try #require(parse("GET http://login.example:8080/cb?code=1 HTTP/1.1\r\nHost: x\r\n\r\n").request)
        #expect(r1.authority == "login.example:8080")
        #expect(r1.path == "/cb")
        #expect(r1.query == "code=1")
        let r2 = try #require(parse("GET HTTPS://login.example HTTP/1.1\r\nHost: x\r\n\r\n").request)
        #expect(r2.path == "/")
        #expect(r2.query == nil)
        let r3 = try #require(parse("GET http://h?x HTTP/1.1\r\nHost: x\r\n\r\n").request)
        #expect(r3.path == "/")
        #expect(r3.query == "x")
    }

    @Test func asteriskFormForOptions() throws {
        let request = try #require(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").request)
        #expect(request.path == "*")
    }

    @Test func browserLeftoversInTargetAreAccepted() throws {
        let request = try #require(parse("GET /a|b^c?x={1}&y=[2]&z=`3` HTTP/1.1\r\nHost: h\r\n\r\n").request)
        #expect(request.path == "/a|b^c")
    }

    @Test func contentLengthVariants() throws {
        #expect(try #require(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").request).body.isEmpty)
        #expect(try #require(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\n\r\nabc").request).body == bytes("abc"))
        #expect(try #require(parse("POST / HTTP/1.1\r\nHost: h\r\ncontent-length:\t2 \r\n\r\nab").request).body == bytes("ab"))
    }

    @Test func hostForms() {
        for host in ["example.org", "example.org:443", "127.0.0.1:8080", "[::1]:443", "[2001:db8::1]", "", "xn--caff-8oa.example", "a.b:"] {
            #expect(parse("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").request != nil, "\(host)")
        }
    }

    @Test func requestBuiltInCodeSplitsItsTarget() {
        let request = HTTPRequest(method: "GET", target: "/authorize?a=1&b=%20",
                                  headers: [HTTPHeader(name: "Host", value: "h")])
        #expect(request.path == "/authorize")
        #expect(request.queryItems().map(\.value) == ["1", " "])
        #expect(request.keepAlive)
    }
}

@Suite struct LimitTests {
    @Test func headOfExactlyMaxHeaderBytesIsAccepted() {
        let base = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n"
        let padding = String(repeating: "a", count: 100 - base.utf8.count)
        let input = "GET / HTTP/1.1\r\nHost: h\r\nX: \(padding)\r\n\r\n"
        #expect(input.utf8.count == 100)
        #expect(parse(input, limits: HTTPLimits(maxHeaderBytes: 100)).request != nil)
        #expect(parse(input, limits: HTTPLimits(maxHeaderBytes: 99)).error?.status == 431)
    }

    @Test func incompleteHeadOverTheLimitIs431() {
        let input = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 200)
        #expect(parse(input, limits: HTTPLimits(maxHeaderBytes: 100)).error?.status == 431)
        #expect(parse(input, limits: HTTPLimits(maxHeaderBytes: 1000)).isNeedMore)
    }

    @Test func requestLineLimit() {
        let limits = HTTPLimits(maxHeaderBytes: 20000)
        let fits = "GET /" + String(repeating: "a", count: 8192 - 14) + " HTTP/1.1"
        #expect(fits.utf8.count == 8192)
        #expect(parse(fits + "\r\nHost: h\r\n\r\n", limits: limits).request != nil)
        let tooLong = "GET /" + String(repeating: "a", count: 8192 - 13) + " HTTP/1.1"
        #expect(parse(tooLong + "\r\nHost: h\r\n\r\n", limits: limits).error?.status == 414)
        // Decided without waiting for the end of the line.
        #expect(parse(String(tooLong.prefix(8193)), limits: limits).error?.status == 414)
        #expect(parse(String(tooLong.prefix(8192)), limits: limits).isNeedMore)
    }

    @Test func bodyLimitIsDecidedFromTheHeaderAlone() {
        let limits = HTTPLimits(maxBodyBytes: 10)
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).request != nil)
        // No body bytes and not even the end of the head yet: refused already.
        let early = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n", limits: limits)
        #expect(early.error == HTTPParseError(status: 413, code: .bodyTooLarge, reason: ""))
    }
}
