import FoundationEssentials
import OIDC
import TLS

/// Why a `jwks_uri` could not be fetched. `code` is what tests match; `reason` is the one line
/// `oidc_jwks_fetch_failed` logs (never the URL's path or query, which may carry a token).
struct JWKSFetchError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        case url, resolve, connect, timeout, tls, certificate, io
        /// The response: a status other than 200, a malformed head or body framing, too large.
        case status, header, body, tooLarge
    }
    var code: Code
    var reason: String
    var file: String
    var line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    init(_ error: TLSError) {
        let code: Code = switch error.code {
        case .resolve: .resolve
        case .connect: .connect
        case .timeout: .timeout
        case .handshake, .context: .tls
        case .certificate: .certificate
        default: .io
        }
        self.init(code, error.reason, file: error.file, line: error.line)
    }

    var description: String { reason }
    static func == (lhs: JWKSFetchError, rhs: JWKSFetchError) -> Bool { lhs.code == rhs.code }
}

/// A client's JWK Set document fetched with one strict HTTP/1.1 GET: once per generation
/// per `jwks_uri`, on the control thread (start and SIGHUP), so blocking is fine.
enum JWKSFetcher {
    static let timeoutSeconds = 5
    static let headerLimit = 16_384
    static let bodyLimit = 65_536

    /// The body of a 200 response; anything else is an error.
    static func fetch(_ uri: String, timeoutSeconds: Int = timeoutSeconds) throws(JWKSFetchError) -> [UInt8] {
        let target = try FetchTarget(uri)
        let connection = try transport { () throws(TLSError) in
            try OutboundConnection(host: target.host, port: target.port, useTLS: target.useTLS, timeoutSeconds: timeoutSeconds)
        }
        try transport { () throws(TLSError) in try connection.send(target.request) }
        var parser = HTTPClientResponseParser(headerLimit: headerLimit, bodyLimit: bodyLimit)
        while true {
            let bytes = try transport { () throws(TLSError) in try connection.receive() }
            if bytes.isEmpty { return try parser.finish() }
            if let body = try parser.consume(bytes) { return body }
        }
    }

    private static func transport<T>(_ body: () throws(TLSError) -> T) throws(JWKSFetchError) -> T {
        do { return try body() } catch { throw JWKSFetchError(error) }
    }
}

/// Where a `jwks_uri` points and the request that fetches it.
struct FetchTarget: Equatable {
    var useTLS: Bool
    /// A name or an IP literal (IPv6 without brackets).
    var host: String
    var port: UInt16
    /// Path and query, as sent on the request line.
    var target: String
    var hostHeader: String

    /// The same rule the configuration applies to `jwks_uri` (https; http only to a loopback host).
    init(_ uri: String) throws(JWKSFetchError) {
        if let problem = RedirectURIRule.problem(uri) { throw JWKSFetchError(.url, "jwks_uri: \(problem)") }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
              let rawHost = components.host else {
            throw JWKSFetchError(.url, "jwks_uri is not an absolute URL")
        }
        useTLS = scheme == "https"
        host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let printable: (UInt8) -> Bool = { (0x21...0x7E).contains($0) }
        guard !host.isEmpty, host.utf8.allSatisfy({ printable($0) && !"/?#@[]".utf8.contains($0) }) else {
            throw JWKSFetchError(.url, "jwks_uri has an unusable host")
        }
        let defaultPort: UInt16 = useTLS ? 443 : 80
        if let explicit = components.port {
            guard let valid = UInt16(exactly: explicit), valid > 0 else { throw JWKSFetchError(.url, "jwks_uri has a bad port") }
            port = valid
        } else {
            port = defaultPort
        }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        guard target.hasPrefix("/"), target.utf8.allSatisfy(printable) else {
            throw JWKSFetchError(.url, "jwks_uri has an unusable path")
        }
        let bracketed = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    var request: [UInt8] {
        Array(("GET \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\nAccept: application/json\r\n"
            + "User-Agent: cns-gateway\r\nConnection: close\r\n\r\n").utf8)
    }
}

/// An HTTP/1.1 response (RFC 9112), fed as it arrives, strict about what a JWKS endpoint has no
/// reason to send: any status but 200 (redirects are not followed), obsolete line folding,
/// transfer or content codings other than chunked, a head over `headerLimit`, a body over `bodyLimit`.
/// Pure: bytes in, the body or an error out.
struct HTTPClientResponseParser {
    let headerLimit: Int
    let bodyLimit: Int
    private enum State {
        case head, fixed(remaining: Int), chunkSize, chunkData(remaining: Int), chunkEnd, trailers(bytes: Int), untilClose, done
    }
    private var state = State.head
    private var buffer: [UInt8] = []
    private var position = 0
    private var body: [UInt8] = []

    init(headerLimit: Int = 16_384, bodyLimit: Int = 65_536) {
        self.headerLimit = headerLimit
        self.bodyLimit = bodyLimit
    }

    /// The body once the response is complete; nil while more bytes are needed.
    mutating func consume(_ bytes: some Collection<UInt8>) throws(JWKSFetchError) -> [UInt8]? {
        buffer.append(contentsOf: bytes)
        while try step() {}
        buffer.removeFirst(position)
        position = 0
        if case .done = state { return body }
        return nil
    }

    /// At the end of the stream: the body when the framing allows the response to end here.
    mutating func finish() throws(JWKSFetchError) -> [UInt8] {
        switch state {
        case .done, .untilClose:
            state = .done
            return body
        case .head:
            throw JWKSFetchError(.header, buffer.isEmpty ? "connection closed without a response" : "connection closed inside the response header")
        default:
            throw JWKSFetchError(.body, "connection closed before the end of the body")
        }
    }

    /// Whole responses in one go (for tests and fuzzing): `bytes` then the end of the stream.
    static func parse(_ bytes: [UInt8], headerLimit: Int = 16_384, bodyLimit: Int = 65_536) throws(JWKSFetchError) -> [UInt8] {
        var parser = HTTPClientResponseParser(headerLimit: headerLimit, bodyLimit: bodyLimit)
        if let body = try parser.consume(bytes) { return body }
        return try parser.finish()
    }

    private var available: Int { buffer.count - position }

    /// One state's worth of progress; false when it needs more bytes (or is done).
    private mutating func step() throws(JWKSFetchError) -> Bool {
        switch state {
        case .head:
            return try head()
        case .fixed(let remaining):
            let count = min(remaining, available)
            guard count > 0 else { return false }
            takeBody(count)
            state = remaining == count ? .done : .fixed(remaining: remaining - count)
            return true
        case .untilClose:
            guard available > 0 else { return false }
            guard body.count + available <= bodyLimit else { throw tooLarge }
            takeBody(available)
            return false
        case .chunkSize:
            guard let line = try line(limit: 1024, what: "chunk size line") else { return false }
            let size = try chunkSize(line)
            if size == 0 {
                state = .trailers(bytes: 0)
            } else {
                guard body.count + size <= bodyLimit else { throw tooLarge }
                state = .chunkData(remaining: size)
            }
            return true
        case .chunkData(let remaining):
            let count = min(remaining, available)
            guard count > 0 else { return false }
            takeBody(count)
            state = remaining == count ? .chunkEnd : .chunkData(remaining: remaining - count)
            return true
        case .chunkEnd:
            guard available >= 2 else { return false }
            guard buffer[position] == 13, buffer[position + 1] == 10 else { throw JWKSFetchError(.body, "chunk data not followed by CRLF") }
            position += 2
            state = .chunkSize
            return true
        case .trailers(let bytes):
            guard let line = try line(limit: headerLimit - bytes, what: "trailer section") else { return false }
            if line.isEmpty {
                state = .done
            } else {
                _ = try Self.field(line)
                state = .trailers(bytes: bytes + line.count + 2)
            }
            return true
        case .done:
            return false
        }
    }

    private mutating func takeBody(_ count: Int) {
        body.append(contentsOf: buffer[position..<position + count])
        position += count
    }

    private var tooLarge: JWKSFetchError { JWKSFetchError(.tooLarge, "body larger than \(bodyLimit) bytes") }

    /// The next CRLF-terminated line (without the CRLF), nil until one is complete.
    private mutating func line(limit: Int, what: String) throws(JWKSFetchError) -> ArraySlice<UInt8>? {
        var index = position
        while index + 1 < buffer.count && index - position < limit {
            if buffer[index] == 13 && buffer[index + 1] == 10 {
                let line = buffer[position..<index]
                position = index + 2
                return line
            }
            index += 1
        }
        guard available <= limit else { throw JWKSFetchError(.body, "\(what) longer than \(limit) bytes") }
        return nil
    }

    // MARK: head

    private mutating func head() throws(JWKSFetchError) -> Bool {
        guard let end = Self.find([13, 10, 13, 10], in: buffer[position...]) else {
            guard available <= headerLimit else { throw JWKSFetchError(.header, "response header larger than \(headerLimit) bytes") }
            return false
        }
        guard end + 4 - position <= headerLimit else { throw JWKSFetchError(.header, "response header larger than \(headerLimit) bytes") }
        let lines = Self.split(buffer[position..<end])
        position = end + 4
        let status = try Self.status(lines[0])
        // RFC 9110 section 15.2: interim responses precede the final one (101 would switch protocols).
        if (100...199).contains(status) && status != 101 { return true }
        guard status == 200 else {
            let note = (300...399).contains(status) ? " (redirects are not followed)" : ""
            throw JWKSFetchError(.status, "HTTP status \(status)\(note)")
        }
        var fields: [String: [String]] = [:]
        for line in lines.dropFirst() {
            let (name, value) = try Self.field(line)
            fields[name, default: []].append(value)
        }
        state = try framing(fields)
        return true
    }

    /// RFC 9112 section 6.3, strictly: chunked alone, or one Content-Length, or until close.
    private func framing(_ fields: [String: [String]]) throws(JWKSFetchError) -> State {
        if let codings = fields["content-encoding"]?.joined(separator: ","),
           !codings.split(separator: ",").allSatisfy({ $0.trimmingWhitespace().lowercased() == "identity" }) {
            throw JWKSFetchError(.header, "unsupported Content-Encoding \"\(codings.prefix(40))\"")
        }
        let lengths = (fields["content-length"] ?? []).flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingWhitespace() }
        if let codings = fields["transfer-encoding"]?.joined(separator: ",") {
            guard lengths.isEmpty else { throw JWKSFetchError(.header, "both Transfer-Encoding and Content-Length") }
            let list = codings.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace().lowercased() }
            guard list == ["chunked"] else { throw JWKSFetchError(.header, "unsupported Transfer-Encoding \"\(codings.prefix(40))\"") }
            return .chunkSize
        }
        guard let first = lengths.first else { return .untilClose }
        // RFC 9110 section 8.6: repeated values are acceptable only when they are all the same.
        guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 18,
              first.utf8.allSatisfy({ (48...57).contains($0) }), let length = Int(first) else {
            throw JWKSFetchError(.header, "malformed Content-Length")
        }
        guard length <= bodyLimit else { throw tooLarge }
        return length == 0 ? .done : .fixed(remaining: length)
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 section 4).
    private static func status(_ line: ArraySlice<UInt8>) throws(JWKSFetchError) -> Int {
        let bytes = Array(line)
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, bytes.starts(with: prefix), bytes[7] == 48 || bytes[7] == 49, bytes[8] == 32,
              bytes[9...11].allSatisfy({ (48...57).contains($0) }), bytes.count == 12 || bytes[12] == 32,
              bytes.dropFirst(12).allSatisfy({ $0 == 9 || $0 >= 32 && $0 != 127 }) else {
            throw JWKSFetchError(.header, "malformed status line")
        }
        return bytes[9...11].reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// `name ":" OWS value OWS` (RFC 9112 section 5): a token name, no space before the colon,
    /// no obsolete line folding, no control characters in the value. The name comes back lowercased.
    static func field(_ line: ArraySlice<UInt8>) throws(JWKSFetchError) -> (String, String) {
        guard let colon = line.firstIndex(of: 58), colon > line.startIndex,
              line[..<colon].allSatisfy(isTokenByte) else {
            throw JWKSFetchError(.header, line.first == 32 || line.first == 9 ? "obsolete line folding in the response header"
                                                                               : "malformed header field")
        }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 9 || $0 >= 32 && $0 != 127 }) else { throw JWKSFetchError(.header, "control character in a header field") }
        let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
        return (name, String(decoding: value, as: UTF8.self).trimmingScalars { $0 == " " || $0 == "\t" })
    }

    /// RFC 9110 section 5.6.2 tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// `1*HEXDIG [BWS ";" chunk-ext]` (RFC 9112 section 7.1); extensions are ignored.
    private func chunkSize(_ line: ArraySlice<UInt8>) throws(JWKSFetchError) -> Int {
        var size = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = Self.hexValue(line[index]) {
            size = size * 16 + digit
            guard size <= bodyLimit else { throw tooLarge }
            index += 1
        }
        guard index > line.startIndex else { throw JWKSFetchError(.body, "malformed chunk size") }
        let rest = line[index...].drop { $0 == 32 || $0 == 9 }
        guard rest.isEmpty || rest.first == 59 && rest.allSatisfy({ $0 == 9 || $0 >= 32 && $0 != 127 }) else {
            throw JWKSFetchError(.body, "malformed chunk size")
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: Int(byte - 48)
        case 65...70: Int(byte - 55)
        case 97...102: Int(byte - 87)
        default: nil
        }
    }

    /// Head lines split at CRLF (a bare CR or LF left inside a line fails the line's own checks).
    private static func split(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var index = head.startIndex
        while index + 1 < head.endIndex {
            if head[index] == 13 && head[index + 1] == 10 {
                lines.append(head[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(head[start..<head.endIndex])
        return lines
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
