import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Outbound
import Posix
import Synchronization
import TestSupport
import Testing
import TLS
@testable import Gateway

/// A one-shot plain HTTP server on 127.0.0.1 answering `response` to the first request.
private final class CRLServer: Sendable {
    let port: UInt16
    private let fd: Int32

    init(response: [UInt8]) throws {
        fd = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        port = try Socket.localAddress(fd).port
        let listener = fd
        Thread {
            var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 5_000) == 1, let (client, _) = try? Socket.accept(listener) else { return }
            defer { Socket.close(client) }
            try? Socket.setBlocking(client, true)
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while request.firstRange(of: [13, 10, 13, 10] as [UInt8]) == nil {
                let n = recv(client, &buffer, buffer.count, 0)
                guard n > 0 else { return }
                request += buffer.prefix(n)
            }
            var offset = 0
            while offset < response.count {
                let n = response[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return }
                offset += n
            }
        }.start()
    }

    deinit { Socket.close(fd) }
}

private func http(_ body: [UInt8], status: String = "200 OK") -> [UInt8] {
    Array("HTTP/1.1 \(status)\r\nContent-Type: application/pkix-crl\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
}

@Suite struct CRLFetchTests {
    @Test func fetchesACRLOverPlainHTTP() throws {
        let ca = TestPKI.ca("CRL Fetch CA")
        let crl = TestPKI.crl(issuer: ca, revoked: [1, 2, 3])
        let server = try CRLServer(response: http(crl))
        #expect(try CRLFetch.get("http://127.0.0.1:\(server.port)/ca.crl", timeout: 5, maxBytes: 1 << 20) == crl)
    }

    @Test func onlyHTTPURLs() {
        #expect(CRLFetch.url("http://crl.example/a.crl") != nil)
        #expect(CRLFetch.url("https://crl.example/a.crl") == nil)
        #expect(CRLFetch.url("ldap://crl.example/cn=x") == nil)
        #expect(throws: FetchError(.url, "")) { try CRLFetch.get("https://127.0.0.1/a.crl", timeout: 1, maxBytes: 10) }
    }

    @Test func emptyOversizedAndMissingCRLs() throws {
        let empty = try CRLServer(response: http([]))
        #expect(throws: FetchError(.body, "")) { try CRLFetch.get("http://127.0.0.1:\(empty.port)/", timeout: 5, maxBytes: 100) }
        let large = try CRLServer(response: http([UInt8](repeating: 0x30, count: 5000)))
        #expect(throws: FetchError(.tooLarge, "")) { try CRLFetch.get("http://127.0.0.1:\(large.port)/", timeout: 5, maxBytes: 1000) }
        let missing = try CRLServer(response: http(Array("gone".utf8), status: "404 Not Found"))
        #expect(throws: FetchError(.status, "")) { try CRLFetch.get("http://127.0.0.1:\(missing.port)/", timeout: 5, maxBytes: 1000) }
    }

    /// Where a CA's CRL is fetched from: the configured source, a root's own distribution
    /// point, or the distribution point an issued bundle certificate names for its issuer.
    @Test func sourceSelection() throws {
        let dir = TestPKI.directory("crl-sources")
        defer { dir.remove() }
        let root = TestPKI.ca("Root With CDP", extra: [("crlDistributionPoints", "URI:http://crl.example/root.crl")])
        let bare = TestPKI.ca("Root Without CDP")
        let intermediate = TestPKI.ca("Intermediate", issuer: bare, extra: [("crlDistributionPoints", "URI:http://crl.example/bare.crl")])
        let unsourced = TestPKI.ca("Nobody Knows")
        let bundle = dir.write("bundle.pem", [root, bare, intermediate, unsourced].map(\.pem).joined())
        let cas = try CRLValidation.bundleCAs(bundle)
        func ca(_ certificate: TestCertificate) -> BundleCA { cas.first { $0.fingerprint == certificate.sha256Hex }! }
        var settings = CRLRefreshSettings(directory: dir.path)
        #expect(CRLRefresher.source(for: ca(root), in: cas, settings: settings) == "http://crl.example/root.crl")
        #expect(CRLRefresher.source(for: ca(bare), in: cas, settings: settings) == "http://crl.example/bare.crl")
        #expect(CRLRefresher.source(for: ca(unsourced), in: cas, settings: settings) == nil)
        settings.sources[unsourced.sha256Hex] = "http://elsewhere.example/x.crl"
        settings.sources[root.sha256Hex] = "http://override.example/root.crl"
        #expect(CRLRefresher.source(for: ca(unsourced), in: cas, settings: settings) == "http://elsewhere.example/x.crl")
        #expect(CRLRefresher.source(for: ca(root), in: cas, settings: settings) == "http://override.example/root.crl")
    }

    /// What the refresher accepts: a newer CRL by the CA; not an older one, nor one by another key.
    @Test func validation() throws {
        let dir = TestPKI.directory("crl-check")
        defer { dir.remove() }
        let ca = TestPKI.ca("Checked CA")
        let bundle = dir.write("bundle.pem", ca.pem)
        let bundleCA = try #require(try CRLValidation.bundleCAs(bundle).first)
        let current = TestPKI.crl(issuer: ca, revoked: [1], lastUpdate: Date(timeIntervalSinceNow: -7200), crlNumber: 5)
        let newer = TestPKI.crl(issuer: ca, revoked: [1, 2], lastUpdate: Date(timeIntervalSinceNow: -60), crlNumber: 6)
        let older = TestPKI.crl(issuer: ca, revoked: [], lastUpdate: Date(timeIntervalSinceNow: -86_400), crlNumber: 4)
        let forged = TestPKI.crl(issuer: ca, revoked: [], crlNumber: 7, signer: TestKey.rsa(bits: 2048))
        guard case .accepted(let accepted) = CRLValidation.check(newer, ca: bundleCA, current: current) else {
            Issue.record("a newer CRL by the CA was not accepted")
            return
        }
        #expect(accepted.entries == 2 && accepted.der == newer)
        guard case .rejected(let old) = CRLValidation.check(older, ca: bundleCA, current: current) else { Issue.record(); return }
        #expect(old.code == .older)
        guard case .rejected(let bad) = CRLValidation.check(forged, ca: bundleCA, current: current) else { Issue.record(); return }
        #expect(bad.code == .badSignature)
        guard case .unchanged = CRLValidation.check(current, ca: bundleCA, current: current) else { Issue.record(); return }
        guard case .rejected(let garbage) = CRLValidation.check([1, 2, 3], ca: bundleCA, current: current) else { Issue.record(); return }
        #expect(garbage.code == .unparsable)
    }
}
