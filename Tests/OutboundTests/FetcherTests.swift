import Foundation
import HTTP1
import Outbound
import Posix
import TestSupport
import Testing
import TLS

private let jwks = #"{"keys":[]}"#

private func get(_ url: String, timeout: Double = 5, maxBody: Int = 65_536, expected: Int? = 200,
                 tls: TLSClientConfiguration = TLSClientConfiguration()) throws(FetchError) -> FetchResponse {
    try Fetcher.fetch(FetchRequest(url: try FetchURL(url), headers: [HTTPHeader(name: "Accept", value: "application/json")]),
                      options: FetchOptions(deadline: Deadline(after: timeout), maxBodyBytes: maxBody, expectedStatus: expected, tls: tls))
}

@Suite struct FetchURLTests {
    /// "scheme host port target host-header"
    private func fields(_ uri: String) throws -> String {
        let t = try FetchURL(uri)
        return "\(t.useTLS ? "https" : "http") \(t.host) \(t.port) \(t.target) \(t.hostHeader)"
    }

    @Test func defaultsPortsQueriesAndIPLiterals() throws {
        #expect(try fields("https://idp.example/.well-known/jwks.json") == "https idp.example 443 /.well-known/jwks.json idp.example")
        #expect(try fields("https://[::1]:8443/k?a=1&b=%20") == "https ::1 8443 /k?a=1&b=%20 [::1]:8443")
        #expect(try fields("http://127.0.0.1:8080") == "http 127.0.0.1 8080 / 127.0.0.1:8080")
        #expect(try fields("http://localhost/jwks") == "http localhost 80 /jwks localhost")
        #expect(try fields("https://idp.example:443/") == "https idp.example 443 / idp.example")
        #expect(try FetchURL("http://crl.example:8080/a.crl?x=secret").origin == "http://crl.example:8080")
    }

    @Test(arguments: ["ftp://idp.example/jwks", "https://idp.example/jwks#frag", "https://user:pw@idp.example/jwks", "/jwks",
                      "https:///jwks", "https://idp.example:0/", "not a url"])
    func refusedURLs(_ uri: String) {
        #expect(throws: FetchError(.url, "")) { try FetchURL(uri) }
    }
}

@Suite struct FetcherTests {
    @Test func plainHTTPWithAChunkedBody() throws {
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n\(jwks)\r\n0\r\n\r\n"))
        let response = try get("http://127.0.0.1:\(server.port)/keys?v=1")
        #expect(response.body == bytes(jwks))
        #expect(response.tlsVersion == nil)
        #expect(server.request == "GET /keys?v=1 HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nUser-Agent: cns-gateway\r\n"
                + "Accept: application/json\r\nConnection: close\r\n\r\n")
    }

    @Test func postCarriesItsBody() throws {
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        let request = FetchRequest(method: "POST", url: try FetchURL("http://127.0.0.1:\(server.port)/ocsp"),
                                   headers: [HTTPHeader(name: "Content-Type", value: "application/ocsp-request")], body: [1, 2, 3])
        let response = try Fetcher.fetch(request, options: FetchOptions(deadline: Deadline(after: 5), maxBodyBytes: 100))
        #expect(response.body == bytes("ok"))
        #expect(server.request.hasPrefix("POST /ocsp HTTP/1.1\r\n"))
        #expect(server.request.contains("Content-Length: 3\r\n"))
    }

    @Test func statusIsReportedUnlessAnyIsAccepted() throws {
        let server = try OneShotServer(response: bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        #expect(throws: FetchError(.status, "")) { try get("http://127.0.0.1:\(server.port)/") }
        let redirect = try OneShotServer(response: bytes("HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n"))
        do {
            _ = try get("http://127.0.0.1:\(redirect.port)/")
            Issue.record("a redirect was accepted")
        } catch {
            #expect(error.reason == "127.0.0.1:\(redirect.port): HTTP status 302 (redirects are not followed)")
        }
        let any = try OneShotServer(response: bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope"))
        let response = try get("http://127.0.0.1:\(any.port)/", expected: nil)
        #expect(response.head.status == 403 && response.body == bytes("nope"))
    }

    @Test func oversizedBodyIsRefused() throws {
        let large = String(repeating: "x", count: 2000)
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\n\r\n\(large)"))
        #expect(throws: FetchError(.tooLarge, "")) { try get("http://127.0.0.1:\(server.port)/", maxBody: 1000) }
    }

    @Test func bodyStreamsToASink() throws {
        let payload = [UInt8]((0..<300_000).map { UInt8($0 % 251) })
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: \(payload.count)\r\n\r\n") + payload)
        let dir = TestPKI.directory()
        defer { dir.remove() }
        let writer = try AtomicFileWriter(path: "\(dir.path)/big.crl")
        var chunks = 0
        let response = try Fetcher.fetch(FetchRequest(url: try FetchURL("http://127.0.0.1:\(server.port)/big.crl")),
                                         options: FetchOptions(deadline: Deadline(after: 5), maxBodyBytes: 1 << 20)) { (chunk) throws(FetchError) in
            chunks += 1
            do throws(Errno) { try writer.write(chunk) } catch { throw FetchError(.sink, error.description) }
        }
        try writer.commit()
        #expect(response.body.isEmpty)
        #expect(chunks > 1)
        #expect(FileManager.default.contents(atPath: "\(dir.path)/big.crl") == Data(payload))
    }

    @Test func connectionRefused() throws {
        let port = try OneShotServer(response: nil).port  // closed again when the server goes
        do {
            _ = try get("http://127.0.0.1:\(port)/")
            Issue.record("fetch succeeded")
        } catch {
            #expect(error.code == .connect)
            #expect(error.reason == "connect to 127.0.0.1:\(port): Connection refused")
        }
    }

    @Test func unresolvableName() {
        #expect(throws: FetchError(.resolve, "")) { try get("http://no-such-host.invalid/") }
    }

    @Test func silentServerTimesOut() throws {
        let server = try OneShotServer(response: nil)
        let started = Date()
        do {
            _ = try get("http://127.0.0.1:\(server.port)/", timeout: 1)
            Issue.record("fetch succeeded")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.reason == "read from 127.0.0.1:\(server.port): timed out")
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.9 && elapsed < 3)
    }
}

/// HTTPS against a server whose certificate this test makes.
@Suite struct FetcherTLSTests {
    final class World: @unchecked Sendable {
        // @unchecked: built in init, read afterwards.
        let dir = TestPKI.directory("outbound-tls")
        let ca = TestPKI.ca("Outbound Test CA")
        let caFile: String
        init() { caFile = dir.write("ca.pem", ca.pem) }
        deinit { dir.remove() }

        /// A server context whose certificate names `names`.
        func context(for names: [String]) throws -> TLSContext {
            let key = TestKey.ecP256()
            let certificate = TestPKI.server(names, issuer: ca, key: key)
            let chain = dir.write("server-\(names[0]).pem", certificate.pem + ca.pem)
            let keyFile = dir.write("server-\(names[0]).key", key.pem)
            let trust = try TrustStore(TrustSources(caBundle: caFile, crls: [], revocation: .bestEffort, legacyIssuers: []))
            return try TLSContext(TLSContextConfiguration(certificateChainFile: chain, privateKeyFile: keyFile, clientCertificate: .none,
                                                          versions: [.tls12, .tls13], sendCANames: false), trust: trust)
        }
    }

    @Test func verifiedServerAnswers() throws {
        let world = World()
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n\(jwks)"),
                                       tls: world.context(for: ["127.0.0.1"]))
        let response = try get("https://127.0.0.1:\(server.port)/jwks", tls: TLSClientConfiguration(trust: .caFile(world.caFile)))
        #expect(response.body == bytes(jwks))
        #expect(response.tlsVersion == "TLSv1.3")
    }

    @Test func nameMismatchIsRefusedBeforeTheRequest() throws {
        let world = World()
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n\(jwks)"),
                                       tls: world.context(for: ["other.example"]))
        do {
            _ = try get("https://127.0.0.1:\(server.port)/jwks", tls: TLSClientConfiguration(trust: .caFile(world.caFile)))
            Issue.record("a certificate for another name was accepted")
        } catch {
            #expect(error.code == .certificate)
            #expect(error.reason.lowercased().contains("mismatch"))
        }
        #expect(server.request.isEmpty)
    }

    @Test func untrustedIssuerIsRefused() throws {
        let world = World()
        let server = try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n\(jwks)"),
                                       tls: world.context(for: ["127.0.0.1"]))
        let otherCA = world.dir.write("other-ca.pem", TestPKI.ca("Another CA").pem)
        #expect(throws: FetchError(.certificate, "")) {
            try get("https://127.0.0.1:\(server.port)/jwks", tls: TLSClientConfiguration(trust: .caFile(otherCA)))
        }
    }
}
