import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Gateway
import Posix

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func parse(_ text: String, bodyLimit: Int = 65_536) throws(JWKSFetchError) -> String {
    String(decoding: try HTTPClientResponseParser.parse(bytes(text), bodyLimit: bodyLimit), as: UTF8.self)
}

/// The error code `text` fails with (nil when it parses).
private func failure(_ text: String, bodyLimit: Int = 65_536) -> JWKSFetchError? {
    do {
        _ = try parse(text, bodyLimit: bodyLimit)
        return nil
    } catch {
        return error
    }
}

private let jwks = #"{"keys":[]}"#

@Suite struct JWKSFetcherResponseTests {
    @Test func contentLengthBody() throws {
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(jwks.utf8.count)\r\n\r\n\(jwks)"
        #expect(try parse(response) == jwks)
        // Bytes past Content-Length are not part of the body.
        #expect(try parse(response + "garbage") == jwks)
    }

    @Test func bodyIsReadyBeforeTheStreamEnds() throws {
        var parser = HTTPClientResponseParser()
        #expect(try parser.consume(bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"keys\":")) == nil)
        #expect(try parser.consume(bytes("[]}")) == bytes(jwks))
    }

    @Test func chunkedBodyFedOneByteAtATime() throws {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "4;ext=\"x\"\r\n{\"ke\r\n0007\r\nys\":[]}\r\n0\r\nX-Trailer: yes\r\n\r\n"
        var parser = HTTPClientResponseParser()
        var body: [UInt8]?
        for byte in bytes(response) {
            #expect(body == nil, "complete before the last byte")
            body = try parser.consume([byte])
        }
        #expect(body == bytes(jwks))
        #expect(try parse(response) == jwks)
    }

    @Test func closeDelimitedBody() throws {
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\(jwks)") == jwks)
        #expect(try parse("HTTP/1.0 200 OK\r\n\r\n\(jwks)") == jwks)
        #expect(try parse("HTTP/1.1 200 \r\n\r\n") == "")
        #expect(try parse("HTTP/1.1 200\r\n\r\n") == "")
    }

    @Test func interimResponsesAreSkipped() throws {
        #expect(try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") == "{}")
        #expect(failure("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")?.reason == "HTTP status 101")
    }

    @Test func oversizeBodies() throws {
        let large = String(repeating: "a", count: 65_537)
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n") == JWKSFetchError(.tooLarge, ""))
        #expect(failure("HTTP/1.1 200 OK\r\n\r\n\(large)")?.reason == "body larger than 65536 bytes")
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n\(large.prefix(0x8000))\r\n8001\r\n")?.code == .tooLarge)
        // A size that would overflow an Int is refused as too large, not wrapped.
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n")?.code == .tooLarge)
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")?.code == .header)
        // Exactly at the limit is fine.
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n\(large.dropLast())").utf8.count == 65_536)
        #expect(try parse("HTTP/1.1 200 OK\r\n\r\n\(large.dropLast())").utf8.count == 65_536)
    }

    @Test func statusOtherThan200() {
        #expect(failure("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") == JWKSFetchError(.status, ""))
        #expect(failure("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?.reason == "HTTP status 404")
        #expect(failure("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/\r\n\r\n")?.reason == "HTTP status 302 (redirects are not followed)")
        #expect(failure("HTTP/1.1 500 Internal Server Error\r\n\r\n")?.code == .status)
        #expect(failure("HTTP/1.1 204 No Content\r\n\r\n")?.code == .status)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Bad: a\u{1}b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Bare: a\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    ])
    func malformedHeads(_ response: String) {
        #expect(failure(response)?.code == .header)
    }

    @Test func sameContentLengthTwiceIsAccepted() throws {
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\n{}") == "{}")
        #expect(try parse("HTTP/1.1 200 OK\r\ncontent-length:2\r\ncontent-encoding: identity\r\n\r\n{}") == "{}")
    }

    @Test func headerLimit() {
        let filler = "X-Filler: " + String(repeating: "x", count: 16_400) + "\r\n"
        #expect(failure("HTTP/1.1 200 OK\r\n\(filler)\r\n{}")?.reason == "response header larger than 16384 bytes")
        // Also when the end of the head has not arrived yet.
        var parser = HTTPClientResponseParser()
        #expect(throws: JWKSFetchError(.header, "")) { _ = try parser.consume(bytes("HTTP/1.1 200 OK\r\n\(filler)")) }
        // Just under the limit is fine.
        let fits = "X-Filler: " + String(repeating: "x", count: 16_300) + "\r\n"
        #expect(failure("HTTP/1.1 200 OK\r\n\(fits)Content-Length: 2\r\n\r\n{}") == nil)
    }

    @Test func malformedChunks() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(failure(head + "zz\r\n")?.code == .body)
        #expect(failure(head + "\r\n")?.code == .body)
        #expect(failure(head + "2 x\r\n{}\r\n0\r\n\r\n")?.code == .body)
        #expect(failure(head + "2\r\n{}XX0\r\n\r\n")?.reason == "chunk data not followed by CRLF")
        #expect(failure(head + "0\r\nBad trailer\r\n\r\n")?.code == .header)
        #expect(failure(head + String(repeating: "0", count: 2000))?.code == .body)
    }

    @Test func truncatedResponses() {
        #expect(failure("")?.reason == "connection closed without a response")
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 2")?.reason == "connection closed inside the response header")
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}")?.reason == "connection closed before the end of the body")
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n")?.code == .body)
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n")?.code == .body)
        // A head that ends with bare LFs never ends.
        #expect(failure("HTTP/1.1 200 OK\nContent-Length: 2\n\n{}")?.code == .header)
    }
}

@Suite struct JWKSFetcherTargetTests {
    /// "scheme host port target host-header"
    private func fields(_ uri: String) throws -> String {
        let t = try FetchTarget(uri)
        return "\(t.useTLS ? "https" : "http") \(t.host) \(t.port) \(t.target) \(t.hostHeader)"
    }

    @Test func httpsDefaults() throws {
        #expect(try fields("https://idp.example/.well-known/jwks.json") == "https idp.example 443 /.well-known/jwks.json idp.example")
        let request = try FetchTarget("https://idp.example/.well-known/jwks.json").request
        #expect(String(decoding: request, as: UTF8.self) == "GET /.well-known/jwks.json HTTP/1.1\r\nHost: idp.example\r\n"
                + "Accept: application/json\r\nUser-Agent: cns-gateway\r\nConnection: close\r\n\r\n")
    }

    @Test func portQueryAndIPLiterals() throws {
        #expect(try fields("https://[::1]:8443/k?a=1&b=%20") == "https ::1 8443 /k?a=1&b=%20 [::1]:8443")
        #expect(try fields("http://127.0.0.1:8080") == "http 127.0.0.1 8080 / 127.0.0.1:8080")
        #expect(try fields("http://127.0.0.2/jwks") == "http 127.0.0.2 80 /jwks 127.0.0.2")
        #expect(try fields("https://idp.example:443/") == "https idp.example 443 / idp.example")
    }

    @Test(arguments: ["http://idp.example/jwks", "http://localhost/jwks", "http://127.evil.example/jwks", "ftp://idp.example/jwks", "https://idp.example/jwks#frag",
                      "https://user:pw@idp.example/jwks", "/jwks", "https:///jwks", "https://idp.example:0/", "not a url"])
    func refusedURLs(_ uri: String) {
        #expect(throws: JWKSFetchError(.url, "")) { try FetchTarget(uri) }
    }
}

/// A one-connection HTTP server on 127.0.0.1:0 that answers with `response` once it has read a
/// request head (or never answers), and records the request.
private final class OneShotServer: Sendable {
    let port: UInt16
    private let fd: Int32
    private let received = Mutex<[UInt8]>([])

    init(response: [UInt8]?) throws {
        fd = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        port = try Socket.localAddress(fd).port
        guard let response else { return }  // never accepts: the kernel completes the TCP handshake alone
        let thread = Thread { [self] in serve(response) }
        thread.start()
    }

    private func serve(_ response: [UInt8]) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 5_000) == 1, let (client, _) = try? Socket.accept(fd) else { return }
        defer { Socket.close(client) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
            var wait = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            guard poll(&wait, 1, 5_000) == 1 else { return }
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            request += buffer.prefix(count)
        }
        received.withLock { $0 = request }
        var offset = 0
        while offset < response.count {
            let sent = response[offset...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 { offset += sent } else {
                var wait = pollfd(fd: client, events: Int16(POLLOUT), revents: 0)
                _ = poll(&wait, 1, 1_000)
            }
        }
    }

    var request: String { String(decoding: received.withLock { $0 }, as: UTF8.self) }

    deinit { Socket.close(fd) }
}

@Suite struct JWKSFetcherTests {
    @Test func fetchesOverPlainHTTPOnLoopback() throws {
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n\(jwks)\r\n0\r\n\r\n"))
        let body = try JWKSFetcher.fetch("http://127.0.0.1:\(server.port)/keys?v=1")
        #expect(body == bytes(jwks))
        #expect(server.request == "GET /keys?v=1 HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nAccept: application/json\r\n"
                + "User-Agent: cns-gateway\r\nConnection: close\r\n\r\n")
    }

    @Test func statusIsReported() throws {
        let server = try OneShotServer(response: bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        #expect(throws: JWKSFetchError(.status, "")) { try JWKSFetcher.fetch("http://127.0.0.1:\(server.port)/") }
    }

    @Test func connectionRefused() throws {
        let port = try OneShotServer(response: nil).port  // closed again when the server goes
        do {
            _ = try JWKSFetcher.fetch("http://127.0.0.1:\(port)/")
            Issue.record("fetch succeeded")
        } catch {
            #expect(error.code == .connect)
            #expect(error.reason == "connect to 127.0.0.1:\(port): Connection refused")
        }
    }

    @Test func silentServerTimesOut() throws {
        let server = try OneShotServer(response: nil)
        let started = Date()
        do {
            _ = try JWKSFetcher.fetch("http://127.0.0.1:\(server.port)/", timeoutSeconds: 1)
            Issue.record("fetch succeeded")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.reason == "timed out after 1 s (read from 127.0.0.1:\(server.port))")
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.9 && elapsed < 3)
    }

    @Test func plainHTTPToAnotherHostIsRefusedBeforeConnecting() {
        guard case .failure(let error) = OIDCService.fetchJWKS("http://idp.example/jwks") else {
            Issue.record("fetch of a non-loopback http URL succeeded")
            return
        }
        #expect(error.description.hasPrefix("jwks_uri: "))
    }
}
