import Foundation
import ForwardedHeaders
import Testing
@testable import Gateway
import Posix
import TestSupport
import TLS

/// `client_certificate = "forwarded"` and `public_base_url`: what a forwarded listener must
/// name to be safe, each refusal with its key path.
@Suite struct ForwardedConfigTests {
    static let pin = String(repeating: "ab", count: 32)

    func load(_ listener: String, extra: String = "") throws -> GatewayConfig {
        let fixture = try ConfigFixture()
        return try GatewayConfig.load(path: fixture.write("[[listener]]\nname = \"login\"\n\(listener)\n[trust]\nca_bundle = \"ca.pem\"\n\(extra)"))
    }

    func problems(_ listener: String, extra: String = "") throws -> [String] {
        let fixture = try ConfigFixture()
        do {
            _ = try GatewayConfig.load(path: fixture.write("[[listener]]\nname = \"login\"\n\(listener)\n[trust]\nca_bundle = \"ca.pem\"\n\(extra)"))
            return []
        } catch {
            return error.problems.map { "\($0.keyPath): \($0.message)" }
        }
    }

    @Test func forwardedListenerWithPinnedProxy() throws {
        let config = try load("""
            address = "0.0.0.0:8443"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "forwarded"
            forwarded_certificate_format = "nginx"
            trusted_proxies = ["10.0.0.5/32"]
            proxy_certificates = ["\(Self.pin.uppercased())", "\(Self.pin.replacing("abab", with: "ab:ab"))"]
            forwarded_client_address = "forwarded"
            public_base_url = "https://login.example.it/cns/"
            """)
        let listener = try #require(config.listeners.first)
        let forwarded = try #require(listener.forwarded)
        #expect(forwarded.fields == ForwardedCertificateFields(format: .nginx))
        #expect(forwarded.fields.certificate == "X-SSL-Client-Cert")
        #expect(forwarded.clientAddress == .forwarded)
        #expect(forwarded.proxyCertificates == [[UInt8](repeating: 0xab, count: 32)])
        #expect(!forwarded.unauthenticatedLoopbackProxy)
        #expect(listener.clientCertificate == .none, "the handshake asks for the proxy's certificate, not a card")
        #expect(listener.readsCard)
        #expect(listener.tlsConfiguration.pinnedClientCertificates == forwarded.proxyCertificates)
        #expect(listener.publicBaseURL == "https://login.example.it/cns")
        #expect(listener.publicPathPrefix == "/cns")
        #expect(listener.isTrustedProxy(SocketAddress(parsing: "10.0.0.5:1")!))
        #expect(!listener.isTrustedProxy(SocketAddress(parsing: "10.0.0.6:1")!))
    }

    /// The public base URL's path is plain segments: an empty, "." or ".." segment would make
    /// the gateway's own links resolve elsewhere than its routes.
    @Test func publicBaseURLPathIsPlainSegments() throws {
        let listener = { (url: String) in """
            address = "127.0.0.1:8080"
            client_certificate = "forwarded"
            trusted_proxies = ["127.0.0.1"]
            allow_unauthenticated_loopback_proxy = true
            public_base_url = "\(url)"
            """ }
        for bad in ["https://a.example/x//y", "https://a.example/x/./y", "https://a.example/x/../y", "https://a.example/x/.",
                    "https://a.example/x/..", "https://a.example//x", "https://a.example/.."] {
            let found = try problems(listener(bad))
            #expect(found.contains { $0.hasPrefix("listener[0].public_base_url:") && $0.contains("plain segments") }, "\(bad): \(found)")
        }
        for (good, prefix) in [("https://a.example/cns/app", "/cns/app"), ("https://a.example/.well/x...y/", "/.well/x...y"), ("https://a.example", "")] {
            let config = try load(listener(good))
            #expect(config.listeners.first?.publicPathPrefix == prefix, "\(good)")
        }
    }

    @Test func headerNamesAreConfigurable() throws {
        let config = try load("""
            address = "127.0.0.1:8080"
            client_certificate = "forwarded"
            forwarded_certificate_format = "rfc9440"
            forwarded_certificate_header = "X-Card"
            forwarded_chain_header = ""
            trusted_proxies = ["127.0.0.1"]
            allow_unauthenticated_loopback_proxy = true
            """)
        let listener = try #require(config.listeners.first)
        #expect(listener.forwarded?.fields == ForwardedCertificateFields(format: .rfc9440, certificate: "X-Card", chain: .some(nil)))
        #expect(listener.isPlainHTTP, "no certificate: plain HTTP behind a proxy on this host")
        #expect(listener.forwarded?.unauthenticatedLoopbackProxy == true)
    }

    @Test func aProxyMustAuthenticateUnlessOnLoopbackByName() throws {
        let base = """
            address = "0.0.0.0:8443"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "forwarded"
            trusted_proxies = ["10.0.0.5/32"]
            """
        #expect(try problems(base).contains { $0.hasPrefix("listener[0].proxy_certificates:") })
        let waivedRemote = try problems(base + "\nallow_unauthenticated_loopback_proxy = true")
        #expect(waivedRemote.contains { $0.hasPrefix("listener[0].trusted_proxies:") && $0.contains("not a loopback") }, "\(waivedRemote)")
        #expect(try problems(base.replacing("10.0.0.5/32", with: "127.0.0.1/32") + "\nallow_unauthenticated_loopback_proxy = true").isEmpty)
    }

    @Test func plainHTTPOnlyOnLoopbackWithTheWaiver() throws {
        let plain = """
            address = "0.0.0.0:8080"
            client_certificate = "forwarded"
            trusted_proxies = ["127.0.0.1/32"]
            allow_unauthenticated_loopback_proxy = true
            """
        #expect(try problems(plain).contains { $0.hasPrefix("listener[0].address:") })
        #expect(try problems(plain.replacing("0.0.0.0", with: "127.0.0.1")).isEmpty)
        // Without the waiver the certificate and key are required again.
        let noWaiver = try problems("address = \"127.0.0.1:8080\"\nclient_certificate = \"forwarded\"\ntrusted_proxies = [\"127.0.0.1\"]\nproxy_certificates = [\"\(Self.pin)\"]")
        #expect(noWaiver.contains { $0.hasPrefix("listener[0].certificate:") }, "\(noWaiver)")
        let pinnedPlain = try problems(plain.replacing("0.0.0.0", with: "127.0.0.1") + "\nproxy_certificates = [\"\(Self.pin)\"]")
        #expect(pinnedPlain.contains { $0.hasPrefix("listener[0].proxy_certificates:") && $0.contains("needs TLS") }, "\(pinnedPlain)")
    }

    @Test func forwardedKeysOnlyWithForwardedMode() throws {
        let found = try problems("""
            address = "0.0.0.0:8443"
            certificate = "server.pem"
            private_key = "server.key"
            forwarded_certificate_format = "nginx"
            proxy_certificates = ["\(Self.pin)"]
            """)
        #expect(found.contains { $0.hasPrefix("listener[0].forwarded_certificate_format:") })
        #expect(found.contains { $0.hasPrefix("listener[0].proxy_certificates:") })
    }

    @Test func badValuesNameTheirKey() throws {
        let found = try problems("""
            address = "0.0.0.0:8443"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "forwarded"
            forwarded_certificate_format = "haproxy"
            forwarded_certificate_header = "X Card"
            forwarded_client_address = "x-real-ip"
            trusted_proxies = []
            proxy_certificates = ["nope.pem", "ca.pem"]
            proxy_protocol = true
            public_base_url = "http://login.example.it/?x=1"
            forwarded_unknown = 1
            """)
        for key in ["forwarded_certificate_format", "forwarded_certificate_header", "forwarded_client_address", "trusted_proxies",
                    "proxy_certificates[0]", "proxy_certificates[1]", "proxy_protocol", "public_base_url", "forwarded_unknown"] {
            #expect(found.contains { $0.hasPrefix("listener[0].\(key):") }, "no problem for \(key): \(found)")
        }
        let xfccChain = try problems("""
            address = "127.0.0.1:8080"
            client_certificate = "forwarded"
            forwarded_certificate_format = "xfcc"
            forwarded_chain_header = "X-Chain"
            trusted_proxies = ["127.0.0.1"]
            allow_unauthenticated_loopback_proxy = true
            """)
        #expect(xfccChain.map { $0.components(separatedBy: ":")[0] } == ["listener[0].forwarded_chain_header"])
    }

    @Test func aProxyCertificateFileBecomesItsPin() throws {
        let dir = TestPKI.directory("forwarded-config")
        defer { dir.remove() }
        let ca = TestPKI.ca("Proxy CA")
        let file = dir.write("proxy.pem", ca.pem)
        for name in ["server.pem", "server.key", "ca.pem"] { _ = dir.write(name, "x") }
        let config = try GatewayConfig.load(path: dir.write("gateway.toml", """
            [[listener]]
            name = "login"
            address = "0.0.0.0:8443"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "forwarded"
            trusted_proxies = ["10.0.0.5/32"]
            proxy_certificates = ["\(file)"]
            [trust]
            ca_bundle = "ca.pem"
            """))
        #expect(config.listeners.first?.forwarded?.proxyCertificates == [try X509Certificate(pemOrDER: ca.der).sha256])
    }

    @Test func publicBaseURLPathMustBeTheIssuers() throws {
        let fixture = try ConfigFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory + "/state", withIntermediateDirectories: true)
        let text = ConfigFixture.minimal.replacing("private_key = \"server.key\"",
                                                   with: "private_key = \"server.key\"\npublic_base_url = \"https://proxy.example.it/cns\"")
            + "\n[server]\nstate_dir = \"state\"\n[oidc]\nissuer = \"https://idp.example.it\"\n"
        do {
            _ = try GatewayConfig.load(path: fixture.write(text))
            Issue.record("a prefix other than the issuer's path loaded")
        } catch {
            #expect(error.problems.map(\.keyPath) == ["listener[0].public_base_url"], "\(error.problems)")
        }
        _ = try GatewayConfig.load(path: fixture.write(text.replacing("https://idp.example.it", with: "https://idp.example.it/cns")))
    }
}
