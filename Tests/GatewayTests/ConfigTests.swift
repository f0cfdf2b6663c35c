import Foundation
import Testing
@testable import Gateway
import Posix
import TLS

/// A scratch directory with the files a config names, removed at the end.
final class ConfigFixture {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "cns-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/crls", withIntermediateDirectories: true)
        for name in ["server.pem", "server.key", "ca.pem", "legacy.pem", "crls/a.pem"] {
            _ = FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data("x".utf8))
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ text: String) -> String {
        let path = "\(directory)/gateway.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    static let minimal = """
        [[listener]]
        name = "login"
        address = "127.0.0.1:0"
        certificate = "server.pem"
        private_key = "server.key"

        [trust]
        ca_bundle = "ca.pem"
        """
}

@Suite struct ConfigTests {
    @Test func minimalConfigGetsDefaults() throws {
        let fixture = try ConfigFixture()
        let config = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal))
        #expect(config.listeners.count == 1)
        let listener = config.listeners[0]
        #expect(listener.name == "login")
        #expect(listener.address == SocketAddress(parsing: "127.0.0.1:0"))
        #expect(listener.certificate == "\(fixture.directory)/server.pem")
        #expect(listener.clientCertificate == .optional)
        #expect(listener.tlsVersions == [.tls12, .tls13])
        #expect(listener.proxyProtocol == false)
        #expect(config.trust.revocation == .bestEffort)
        #expect(config.limits == Limits())
        #expect(config.limits.maxHeaderBytes == 16_384)
    }

    @Test func fullConfigIsRead() throws {
        let fixture = try ConfigFixture()
        let text = """
            [server]
            loop_threads = 3
            drain_timeout = 2.5
            [logging]
            level = "debug"
            format = "json"
            [[listener]]
            name = "login"
            address = "[::]:8443"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "require"
            tls_versions = ["1.2"]
            proxy_protocol = true
            trusted_proxies = ["127.0.0.1/32", "::1"]
            send_ca_names = false
            [[listener]]
            name = "public"
            address = "127.0.0.1:8080"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "none"
            [trust]
            ca_bundle = "ca.pem"
            crls = ["crls", "crls/a.pem"]
            revocation = "require"
            legacy_issuers = ["legacy.pem", "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"]
            [limits]
            handshake_timeout = 3
            header_timeout = 4.5
            idle_timeout = 30
            max_connections = 50
            max_connections_per_client = 5
            max_header_bytes = 8192
            max_body_bytes = 1000
            """
        let config = try GatewayConfig.load(path: fixture.write(text))
        #expect(config.loopThreads == 3)
        #expect(config.drainTimeout == 2.5)
        #expect(config.logFormat == .json)
        #expect(config.listeners.map(\.name) == ["login", "public"])
        let login = config.listeners[0]
        #expect(login.clientCertificate == .require)
        #expect(login.tlsVersions == [.tls12])
        #expect(login.trustedProxies.count == 2)
        #expect(login.sendCANames == false)
        #expect(login.address.family == .inet6)
        #expect(config.trust.revocation == .require)
        #expect(config.trust.crls.count == 2)
        #expect(config.trust.legacyIssuers.count == 2)
        #expect(config.limits.handshakeTimeout == 3)
        #expect(config.limits.maxConnectionsPerClient == 5)
    }

    /// Every mistake is reported, each with its key path, in one run.
    @Test func everyProblemIsReportedWithItsKeyPath() throws {
        let fixture = try ConfigFixture()
        let text = """
            [server]
            loop_thread = 2
            [[listener]]
            name = "login"
            address = "localhost"
            certificate = "missing.pem"
            private_key = "server.key"
            client_certificate = "sometimes"
            tls_versions = ["1.1"]
            proxy_protocol = "yes"
            trusted_proxies = ["10.0.0.0/33"]
            [trust]
            ca_bundle = "ca.pem"
            revocation = "maybe"
            legacy_issuers = ["nope.pem"]
            [limits]
            max_header_bytes = "big"
            idle_timeout = -1
            """
        do {
            _ = try GatewayConfig.load(path: fixture.write(text))
            Issue.record("a broken config loaded")
        } catch {
            let paths = Set(error.problems.map(\.keyPath))
            for expected in [
                "server.loop_thread", "listener[0].address", "listener[0].certificate",
                "listener[0].client_certificate", "listener[0].tls_versions", "listener[0].proxy_protocol",
                "listener[0].trusted_proxies", "trust.revocation", "trust.legacy_issuers[0]",
                "limits.max_header_bytes", "limits.idle_timeout",
            ] {
                #expect(paths.contains(expected), "missing problem for \(expected): \(error.problems)")
            }
            #expect(error.problems.allSatisfy { $0.file.hasSuffix("gateway.toml") })
        }
    }

    @Test func missingFileAndSyntaxErrorsNameTheFile() throws {
        do {
            _ = try GatewayConfig.load(path: "/nonexistent/cns.toml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description.contains("/nonexistent/cns.toml"))
        }
        let fixture = try ConfigFixture()
        do {
            _ = try GatewayConfig.load(path: fixture.write("[[listener]\nname = "))
            Issue.record("loaded broken TOML")
        } catch {
            #expect(error.description.contains("TOML syntax"))
        }
    }

    @Test func missingRequiredPieces() throws {
        let fixture = try ConfigFixture()
        do {
            _ = try GatewayConfig.load(path: fixture.write("[logging]\nlevel = \"info\"\n"))
            Issue.record("loaded a config without listeners")
        } catch {
            let paths = error.problems.map(\.keyPath)
            #expect(paths.contains("listener"))
            #expect(paths.contains("trust"))
        }
    }

    @Test func proxyProtocolNeedsTrustedProxies() throws {
        let fixture = try ConfigFixture()
        let text = ConfigFixture.minimal.replacingOccurrences(of: "private_key = \"server.key\"",
                                                             with: "private_key = \"server.key\"\nproxy_protocol = true")
        do {
            _ = try GatewayConfig.load(path: fixture.write(text))
            Issue.record("proxy_protocol without trusted proxies loaded")
        } catch {
            #expect(error.problems.map(\.keyPath) == ["listener[0].trusted_proxies"])
        }
    }
}

@Suite struct AddressTests {
    @Test func parsesAddresses() {
        #expect(SocketAddress(parsing: "127.0.0.1:8443")?.description == "127.0.0.1:8443")
        #expect(SocketAddress(parsing: "[::1]:443")?.description == "[::1]:443")
        #expect(SocketAddress(parsing: "[::]:0")?.port == 0)
        for bad in ["localhost:80", "127.0.0.1", "127.0.0.1:99999", "[::1]443", "1.2.3.4:-1", "[::1]:", ":80", "1.2.3.4:+80"] {
            #expect(SocketAddress(parsing: bad) == nil, "\(bad) parsed")
        }
    }

    @Test func mappedIPv6IsNormalisedToIPv4() {
        let mapped = SocketAddress(family: .inet6, bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], port: 7)
        #expect(mapped.family == .inet)
        #expect(mapped.description == "10.1.2.3:7")
    }

    @Test func cidrMatching() throws {
        let net = try #require(IPNetwork(parsing: "10.0.0.0/8"))
        #expect(net.contains(SocketAddress(parsing: "10.200.1.1:1")!))
        #expect(!net.contains(SocketAddress(parsing: "11.0.0.1:1")!))
        #expect(!net.contains(SocketAddress(parsing: "[::1]:1")!))
        let host = try #require(IPNetwork(parsing: "127.0.0.1"))
        #expect(host.prefixLength == 32)
        #expect(host.contains(SocketAddress(parsing: "127.0.0.1:5")!))
        #expect(!host.contains(SocketAddress(parsing: "127.0.0.2:5")!))
        let odd = try #require(IPNetwork(parsing: "192.168.4.0/22"))
        #expect(odd.contains(SocketAddress(parsing: "192.168.7.255:1")!))
        #expect(!odd.contains(SocketAddress(parsing: "192.168.8.0:1")!))
        let v6 = try #require(IPNetwork(parsing: "2001:db8::/32"))
        #expect(v6.contains(SocketAddress(parsing: "[2001:db8:1::5]:1")!))
        #expect(!v6.contains(SocketAddress(parsing: "[2001:db9::5]:1")!))
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "x/8", "10.0.0.0/8/8", "10.0.0.0/+8"] {
            #expect(IPNetwork(parsing: bad) == nil, "\(bad) parsed")
        }
    }
}
