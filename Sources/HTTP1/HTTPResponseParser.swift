/// The status line and header fields of a response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [HTTPHeader]

    public init(status: Int, headers: [HTTPHeader]) {
        self.status = status
        self.headers = headers
    }

    public func header(_ name: String) -> String? { headers.first(named: name) }
}

/// Why a response could not be read. `code` is what callers and tests match; `reason` is the
/// one line a log shows.
public struct HTTPResponseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The status line or a header field is malformed, or the head is too large.
        case header
        /// The body framing (chunks, length) is broken or the stream ended inside the body.
        case body
        /// The body is larger than the caller allows.
        case tooLarge
        /// A status no client asked for (101 Switching Protocols).
        case status
    }
    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { reason }
    public static func == (lhs: HTTPResponseError, rhs: HTTPResponseError) -> Bool { lhs.code == rhs.code }
}

/// An HTTP/1.1 response (RFC 9112) fed as it arrives: the head once it is complete, then the
/// body bytes as they come, so a download of tens of megabytes can go straight to a file.
/// Strict about what our fetches (JWK Sets, CRLs, OCSP answers, trusted lists, the gateway
/// itself for cns-card) have no reason to receive: obsolete line folding, control characters
/// in fields, transfer or content codings other than chunked, conflicting lengths. Interim
/// 1xx responses are skipped. Pure: bytes in, head and body out.
public struct HTTPResponseParser {
    public let maxHeaderBytes: Int
    public let maxBodyBytes: Int
    /// False for the answer to a HEAD request: no body whatever the framing fields say.
    public let expectsBody: Bool

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers(bytes: Int)
        case untilClose
        case done
    }
    private var state = State.head
    /// Unconsumed bytes of the head, a chunk-size line, a chunk's CRLF or the trailers;
    /// body bytes never pass through it.
    private var pending: [UInt8] = []
    public private(set) var head: HTTPResponseHead?
    public private(set) var bodyCount = 0
    /// The sizes of the chunks announced so far.
    private var chunkedTotal = 0

    public init(maxHeaderBytes: Int = 16_384, maxBodyBytes: Int, requestMethod: String = "GET") {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.expectsBody = requestMethod != "HEAD"
    }

    /// True once the whole response (head and body) has been read.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Feeds the next bytes of the stream and returns the body bytes among them (possibly
    /// none). Bytes after the end of the response are ignored.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(HTTPResponseError) -> [UInt8] {
        var body: [UInt8] = []
        var input = bytes[...]
        while !input.isEmpty {
            switch state {
            case .fixed(let remaining):
                let count = min(remaining, input.count)
                body.append(contentsOf: input.prefix(count))
                input = input.dropFirst(count)
                state = remaining == count ? .done : .fixed(remaining: remaining - count)
            case .chunkData(let remaining):
                let count = min(remaining, input.count)
                body.append(contentsOf: input.prefix(count))
                input = input.dropFirst(count)
                state = remaining == count ? .chunkEnd : .chunkData(remaining: remaining - count)
            case .untilClose:
                guard bodyCount + body.count + input.count <= maxBodyBytes else { throw tooLarge }
                body.append(contentsOf: input)
                input = input.dropFirst(input.count)
            case .done:
                input = input.dropFirst(input.count)
            case .head, .chunkSize, .chunkEnd, .trailers:
                // Line-oriented states: take bytes up to the end of the next line at most, so
                // the body that follows is not copied into `pending`.
                let take = Self.lineEnd(in: input, after: pending.last) ?? input.count
                pending.append(contentsOf: input.prefix(take))
                input = input.dropFirst(take)
                while try step() {}
            }
        }
        bodyCount += body.count
        return body
    }

    public mutating func consume(_ bytes: [UInt8]) throws(HTTPResponseError) -> [UInt8] {
        try bytes.withUnsafeBytes { raw in Result { () throws(HTTPResponseError) in try consume(raw) } }.get()
    }

    /// At the end of the stream: throws unless the framing allows the response to end here.
    public mutating func finish() throws(HTTPResponseError) {
        switch state {
        case .done:
            return
        case .untilClose:
            state = .done
        case .head:
            throw HTTPResponseError(.header, pending.isEmpty && head == nil ? "connection closed without a response"
                                                                           : "connection closed inside the response header")
        default:
            throw HTTPResponseError(.body, "connection closed before the end of the body")
        }
    }

    /// A whole response: `bytes`, then the end of the stream.
    public static func parse(_ bytes: [UInt8], maxHeaderBytes: Int = 16_384, maxBodyBytes: Int,
                             requestMethod: String = "GET") throws(HTTPResponseError) -> (head: HTTPResponseHead, body: [UInt8]) {
        var parser = HTTPResponseParser(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes, requestMethod: requestMethod)
        let body = try parser.consume(bytes)
        try parser.finish()
        guard let head = parser.head else { throw HTTPResponseError(.header, "connection closed without a response") }
        return (head, body)
    }

    /// The number of bytes of `input` up to and including the LF that ends a line (a CR
    /// may have been the last byte already pending), nil when no line ends in it.
    private static func lineEnd(in input: UnsafeRawBufferPointer.SubSequence, after previous: UInt8?) -> Int? {
        var last = previous
        var index = input.startIndex
        while index < input.endIndex {
            let byte = input[index]
            if byte == ASCII.lf && last == ASCII.cr { return index - input.startIndex + 1 }
            last = byte
            index += 1
        }
        return nil
    }

    private var tooLarge: HTTPResponseError { HTTPResponseError(.tooLarge, "body larger than \(maxBodyBytes) bytes") }

    /// One line-oriented step on `pending`; false when it needs more bytes or the state
    /// moved on to the body.
    private mutating func step() throws(HTTPResponseError) -> Bool {
        switch state {
        case .head:
            return try parseHead()
        case .chunkSize:
            guard let line = try takeLine(limit: 1024, what: "chunk size line") else { return false }
            let size = try chunkSize(line)
            if size == 0 {
                state = .trailers(bytes: 0)
                return true
            }
            // Counted when announced, so the limit holds before the chunk's bytes arrive.
            chunkedTotal += size
            guard chunkedTotal <= maxBodyBytes else { throw tooLarge }
            state = .chunkData(remaining: size)
            return false
        case .chunkEnd:
            guard pending.count >= 2 else { return false }
            guard pending[0] == ASCII.cr, pending[1] == ASCII.lf else {
                throw HTTPResponseError(.body, "chunk data not followed by CRLF")
            }
            pending.removeFirst(2)
            state = .chunkSize
            return true
        case .trailers(let bytes):
            guard let line = try takeLine(limit: maxHeaderBytes - bytes, what: "trailer section") else { return false }
            if line.isEmpty {
                state = .done
                pending = []
                return false
            }
            _ = try Self.field(line[...])
            state = .trailers(bytes: bytes + line.count + 2)
            return true
        default:
            return false
        }
    }

    /// The next CRLF-terminated line of `pending` (without the CRLF); nil until one is complete.
    private mutating func takeLine(limit: Int, what: String) throws(HTTPResponseError) -> [UInt8]? {
        guard let end = Self.find([ASCII.cr, ASCII.lf], in: pending[...]) else {
            guard pending.count <= limit else { throw HTTPResponseError(what == "trailer section" ? .header : .body, "\(what) longer than \(limit) bytes") }
            return nil
        }
        guard end <= limit else { throw HTTPResponseError(what == "trailer section" ? .header : .body, "\(what) longer than \(limit) bytes") }
        let line = Array(pending[..<end])
        pending.removeFirst(end + 2)
        return line
    }

    // MARK: head

    private mutating func parseHead() throws(HTTPResponseError) -> Bool {
        guard let end = Self.find([ASCII.cr, ASCII.lf, ASCII.cr, ASCII.lf], in: pending[...]) else {
            guard pending.count <= maxHeaderBytes else { throw headTooLarge }
            return false
        }
        guard end + 4 <= maxHeaderBytes else { throw headTooLarge }
        let lines = Self.split(pending[..<end])
        pending.removeFirst(end + 4)
        let status = try Self.status(lines[0])
        // RFC 9110 section 15.2: interim responses precede the final one; 101 would switch
        // protocols, which no request of ours asks for.
        if status == 101 { throw HTTPResponseError(.status, "HTTP status 101") }
        if (100...199).contains(status) { return true }
        var headers: [HTTPHeader] = []
        for line in lines.dropFirst() {
            let (name, value) = try Self.field(line)
            headers.append(HTTPHeader(name: name, value: value))
        }
        head = HTTPResponseHead(status: status, headers: headers)
        // RFC 9110 sections 6.4.1, 15.3.5, 15.4.5: no body after HEAD, 204 or 304.
        if !expectsBody || status == 204 || status == 304 {
            state = .done
        } else {
            state = try framing(headers)
        }
        // Lines are taken one at a time, so nothing after the head's blank line is pending.
        assert(pending.isEmpty)
        return false
    }

    private var headTooLarge: HTTPResponseError { HTTPResponseError(.header, "response header larger than \(maxHeaderBytes) bytes") }

    /// RFC 9112 section 6.3, strictly: chunked alone, or one Content-Length, or until close.
    private func framing(_ headers: [HTTPHeader]) throws(HTTPResponseError) -> State {
        let codings = headers.all(named: "Content-Encoding").joined(separator: ",")
        if !codings.isEmpty, !codings.split(separator: ",").allSatisfy({ ASCII.trimmingOWS($0).lowercased() == "identity" }) {
            throw HTTPResponseError(.header, "unsupported Content-Encoding \"\(codings.prefix(40))\"")
        }
        let lengths = headers.all(named: "Content-Length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { ASCII.trimmingOWS($0) }
        let transfer = headers.all(named: "Transfer-Encoding")
        if !transfer.isEmpty {
            guard lengths.isEmpty else { throw HTTPResponseError(.header, "both Transfer-Encoding and Content-Length") }
            let list = transfer.joined(separator: ",").split(separator: ",", omittingEmptySubsequences: false)
                .map { ASCII.trimmingOWS($0).lowercased() }
            guard list == ["chunked"] else {
                throw HTTPResponseError(.header, "unsupported Transfer-Encoding \"\(transfer.joined(separator: ",").prefix(40))\"")
            }
            return .chunkSize
        }
        guard let first = lengths.first else { return .untilClose }
        // RFC 9110 section 8.6: repeated values are acceptable only when they are all the same.
        guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 18,
              first.utf8.allSatisfy(ASCII.isDigit), let length = Int(first) else {
            throw HTTPResponseError(.header, "malformed Content-Length")
        }
        guard length <= maxBodyBytes else { throw tooLarge }
        return length == 0 ? .done : .fixed(remaining: length)
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 section 4).
    private static func status(_ line: ArraySlice<UInt8>) throws(HTTPResponseError) -> Int {
        let bytes = Array(line)
        guard bytes.count >= 12, bytes.starts(with: Array("HTTP/1.".utf8)), bytes[7] == 0x30 || bytes[7] == 0x31,
              bytes[8] == ASCII.sp, bytes[9...11].allSatisfy(ASCII.isDigit), bytes.count == 12 || bytes[12] == ASCII.sp,
              bytes.dropFirst(12).allSatisfy({ $0 == ASCII.htab || $0 >= 0x20 && $0 != 0x7F }) else {
            throw HTTPResponseError(.header, "malformed status line")
        }
        return bytes[9...11].reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// `name ":" OWS value OWS` (RFC 9112 section 5): a token name, no space before the colon,
    /// no obsolete line folding, no control characters in the value.
    private static func field(_ line: ArraySlice<UInt8>) throws(HTTPResponseError) -> (String, String) {
        guard let colon = line.firstIndex(of: ASCII.colon), colon > line.startIndex,
              line[..<colon].allSatisfy(ASCII.isTokenChar) else {
            throw HTTPResponseError(.header, line.first == ASCII.sp || line.first == ASCII.htab
                                    ? "obsolete line folding in the response header" : "malformed header field")
        }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == ASCII.htab || $0 >= 0x20 && $0 != 0x7F }) else {
            throw HTTPResponseError(.header, "control character in a header field")
        }
        let trimmed = value.drop { $0 == ASCII.sp || $0 == ASCII.htab }
        var end = trimmed.endIndex
        while end > trimmed.startIndex, trimmed[end - 1] == ASCII.sp || trimmed[end - 1] == ASCII.htab { end -= 1 }
        return (String(decoding: line[..<colon], as: UTF8.self), String(decoding: trimmed[..<end], as: UTF8.self))
    }

    /// `1*HEXDIG [BWS ";" chunk-ext]` (RFC 9112 section 7.1); extensions are ignored.
    private func chunkSize(_ line: [UInt8]) throws(HTTPResponseError) -> Int {
        var size = 0
        var index = 0
        while index < line.count, let digit = ASCII.hexValue(line[index]) {
            size = size * 16 + Int(digit)
            guard size <= maxBodyBytes else { throw tooLarge }
            index += 1
        }
        guard index > 0 else { throw HTTPResponseError(.body, "malformed chunk size") }
        let rest = line[index...].drop { $0 == ASCII.sp || $0 == ASCII.htab }
        guard rest.isEmpty || rest.first == 0x3B && rest.allSatisfy({ $0 == ASCII.htab || $0 >= 0x20 && $0 != 0x7F }) else {
            throw HTTPResponseError(.body, "malformed chunk size")
        }
        return size
    }

    /// Head lines split at CRLF (a bare CR or LF left inside a line fails the line's own checks).
    private static func split(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var index = head.startIndex
        while index + 1 < head.endIndex {
            if head[index] == ASCII.cr && head[index + 1] == ASCII.lf {
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

    /// The offset of `needle` from the start of `haystack`.
    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) {
                return index - haystack.startIndex
            }
            index += 1
        }
        return nil
    }
}
