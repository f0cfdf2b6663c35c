public import HTTP1
public import Posix
public import TLS

/// Why a fetch failed. `code` is what callers and tests match; `reason` is the one line a log
/// shows (the peer's host and port, never a URL's path or query).
public struct FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case url, resolve, connect, timeout, tls, certificate, io
        /// The response: a status the caller did not accept, a malformed head or body framing, too large.
        case status, header, body, tooLarge
        /// The body's destination (a file being written) failed.
        case sink
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

    init(_ error: TLSError) {
        let code: Code = switch error.code {
        case .resolve: .resolve
        case .connect: .connect
        case .timeout: .timeout
        case .handshake, .context: .tls
        case .certificate, .privateKey: .certificate
        default: .io
        }
        self.init(code, error.reason, file: error.file, line: error.line)
    }

    init(_ error: HTTPResponseError, peer: String) {
        let code: Code = switch error.code {
        case .header: .header
        case .body: .body
        case .tooLarge: .tooLarge
        case .status: .status
        }
        self.init(code, "\(peer): \(error.reason)", file: error.file, line: error.line)
    }

    public var description: String { reason }
    public static func == (lhs: FetchError, rhs: FetchError) -> Bool { lhs.code == rhs.code }
}

public struct FetchRequest: Sendable {
    public var method: String
    public var url: FetchURL
    /// Besides Host, User-Agent, Content-Length and Connection, which the fetcher writes.
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(method: String = "GET", url: FetchURL, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The request as sent: one request per connection, so always `Connection: close`.
    func serialized(userAgent: String) -> [UInt8] {
        var text = "\(method) \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUser-Agent: \(userAgent)\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.count)\r\n" }
        text += "Connection: close\r\n\r\n"
        return Array(text.utf8) + body
    }
}

public struct FetchOptions {
    /// The whole exchange: connect, handshake, request, response.
    public var deadline: Deadline
    public var maxHeaderBytes: Int
    public var maxBodyBytes: Int
    /// The one status accepted; nil accepts any (the caller reads `head.status`).
    public var expectedStatus: Int?
    /// For https:// URLs.
    public var tls: TLSClientConfiguration
    public var userAgent: String

    public init(deadline: Deadline, maxHeaderBytes: Int = 16_384, maxBodyBytes: Int, expectedStatus: Int? = 200,
                tls: TLSClientConfiguration = TLSClientConfiguration(), userAgent: String = "cns-gateway") {
        self.deadline = deadline
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.expectedStatus = expectedStatus
        self.tls = tls
        self.userAgent = userAgent
    }
}

public struct FetchResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]
    /// The negotiated protocol and cipher on an https:// fetch.
    public var tlsVersion: String?
    public var cipher: String?
}

/// The outbound stack's one HTTP client: Posix's connect, TLS's client, HTTP1's response
/// parser, everything bounded by one deadline. Blocking: for background threads and the
/// blocking pool, never for a loop thread. One request per connection, no redirects.
public enum Fetcher {
    /// The whole response in memory (bounded by `maxBodyBytes`).
    public static func fetch(_ request: FetchRequest, options: FetchOptions) throws(FetchError) -> FetchResponse {
        var body: [UInt8] = []
        var response = try fetch(request, options: options) { (chunk) throws(FetchError) in body += chunk }
        response.body = body
        return response
    }

    /// The body handed to `sink` as it arrives (a file being written), nothing more than one
    /// read buffered; the returned response has an empty body. The status is judged before
    /// the first body byte reaches the sink.
    public static func fetch(_ request: FetchRequest, options: FetchOptions,
                             sink: ([UInt8]) throws(FetchError) -> Void) throws(FetchError) -> FetchResponse {
        let url = request.url
        let connection: OutboundConnection
        do {
            connection = try OutboundConnection(host: url.host, port: url.port, tls: url.useTLS ? options.tls : nil,
                                                deadline: options.deadline)
            try connection.send(request.serialized(userAgent: options.userAgent))
        } catch {
            throw FetchError(error)
        }
        var parser = HTTPResponseParser(maxHeaderBytes: options.maxHeaderBytes, maxBodyBytes: options.maxBodyBytes,
                                        requestMethod: request.method)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        var judged = false
        while !parser.isComplete {
            let count: Int
            do {
                count = try connection.receive(into: buffer)
            } catch {
                throw FetchError(error)
            }
            let body: [UInt8]
            do {
                if count == 0 {
                    try parser.finish()
                    body = []
                } else {
                    body = try parser.consume(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                }
            } catch {
                throw FetchError(error, peer: connection.peer)
            }
            if !judged, let head = parser.head {
                judged = true
                if let expected = options.expectedStatus, head.status != expected {
                    let note = (300...399).contains(head.status) ? " (redirects are not followed)" : ""
                    throw FetchError(.status, "\(connection.peer): HTTP status \(head.status)\(note)")
                }
            }
            if !body.isEmpty { try sink(body) }
            if count == 0 { break }
        }
        guard let head = parser.head else { throw FetchError(.header, "\(connection.peer): no response") }
        return FetchResponse(head: head, body: [], tlsVersion: connection.tlsVersion, cipher: connection.cipher)
    }
}
