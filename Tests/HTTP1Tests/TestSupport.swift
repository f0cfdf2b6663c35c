import HTTP1

/// SplitMix64: a tiny deterministic generator so the property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func parse(_ s: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
    HTTPRequestParser.parse(bytes(s), limits: limits)
}

extension HTTPParseResult {
    var request: HTTPRequest? {
        if case .request(let r, _) = self { return r }
        return nil
    }
    var consumed: Int? {
        if case .request(_, let c) = self { return c }
        return nil
    }
    var error: HTTPParseError? {
        if case .error(let e) = self { return e }
        return nil
    }
    var isNeedMore: Bool {
        if case .needMore = self { return true }
        return false
    }
}

/// Feeds `input` one byte at a time, as a slow client would, and returns the first result
/// that is not `.needMore` together with how many bytes it took.
func feedByteByByte(_ input: [UInt8], limits: HTTPLimits = HTTPLimits()) -> (HTTPParseResult, Int) {
    for n in 0...input.count {
        let result = HTTPRequestParser.parse(Array(input[0..<n]), limits: limits)
        if !result.isNeedMore { return (result, n) }
    }
    return (.needMore, input.count)
}

/// A set of valid requests used by several tests.
let validRequests: [String] = [
    "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
    "GET /authorize?client_id=abc&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=x+y HTTP/1.1\r\nHost: login.example:8443\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n",
    "POST /token HTTP/1.1\r\nHost: login.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=authorization_code",
    "GET /x HTTP/1.0\r\n\r\n",
    "HEAD /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://login.example/p?q=1 HTTP/1.1\r\nHost: login.example\r\n\r\n",
    "\r\nGET /after-crlf HTTP/1.1\r\nHost: h\r\n\r\n",
    "PUT /r HTTP/1.1\r\nHost: [2001:db8::1]:443\r\nX-Empty:\r\nX-Tabs:\t v \t\r\nContent-Length: 3\r\n\r\nabc",
    "DELETE /r?a HTTP/1.1\r\nhost: h\r\nCONNECTION: close\r\nX-UTF8: caffè\r\n\r\n",
]
