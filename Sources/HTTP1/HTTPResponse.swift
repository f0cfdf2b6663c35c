/// A response to serialize; framing headers (Content-Length, Connection) are the
/// serializer's job, so a handler cannot get them wrong.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The response as bytes: status line, the caller's headers, Content-Length, then
    /// "Connection: close" when the connection will be closed after it (RFC 9112 §9.6), or
    /// "Connection: keep-alive" for a persistent HTTP/1.0 client (RFC 9112 §C.2.2).
    ///
    /// Caller-supplied Content-Length and Transfer-Encoding fields are dropped (we always
    /// frame with Content-Length), and so are caller-supplied Connection fields when the
    /// connection closes. 1xx, 204 and 304 responses carry neither Content-Length nor body
    /// (RFC 9110 §8.6, §15.3.5, §15.4.5). Control characters in header values are replaced
    /// by spaces, so a value built from request data can never split the response.
    ///
    /// The answer to a HEAD request is the GET answer's head, Content-Length included, and
    /// never its body (RFC 9110 §9.3.2): the client reads no body after it, so body bytes would
    /// be taken for the start of the next response on a kept-alive connection. Deciding it
    /// here, from the request method, covers every handler, including error responses.
    public func serialize(keepAlive: Bool, requestVersionMinor: Int = 1, requestMethod: String? = nil) -> [UInt8] {
        precondition((100...999).contains(status), "HTTP status \(status) is not three digits")
        let bodyless = status < 200 || status == 204 || status == 304
        let sendsBody = !bodyless && requestMethod != "HEAD"
        var out: [UInt8] = []
        out.reserveCapacity(64 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                            + (sendsBody ? body.count : 0))
        out.append(contentsOf: "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n".utf8)
        for header in headers {
            precondition(!header.name.isEmpty && header.name.utf8.allSatisfy(ASCII.isTokenChar),
                         "header name \(header.name) is not a token")
            if ASCII.caseInsensitiveEquals(header.name, "Content-Length")
                || ASCII.caseInsensitiveEquals(header.name, "Transfer-Encoding")
                || (!keepAlive && ASCII.caseInsensitiveEquals(header.name, "Connection")) {
                continue
            }
            out.append(contentsOf: header.name.utf8)
            out.append(contentsOf: ": ".utf8)
            for b in header.value.utf8 {
                out.append(b < 0x20 && b != ASCII.htab || b == 0x7F ? ASCII.sp : b)
            }
            out.append(contentsOf: "\r\n".utf8)
        }
        if !bodyless {
            out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if requestVersionMinor == 0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if sendsBody { out.append(contentsOf: body) }
        return out
    }

    /// The RFC 9110 §15 reason phrase, or the name of the status class for a code it does not list.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"   // RFC 6585
        case 429: "Too Many Requests"       // RFC 6585
        case 431: "Request Header Fields Too Large"  // RFC 6585
        case 451: "Unavailable For Legal Reasons"    // RFC 7725
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 100..<200: "Informational"
        case 200..<300: "Successful"
        case 300..<400: "Redirection"
        case 400..<500: "Client Error"
        default: "Server Error"
        }
    }
}
