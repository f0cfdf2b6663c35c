import FoundationEssentials
import ForwardedHeaders
import HTTP1
import JSON
import OIDC
import Posix
import TestSupport
import Testing
import TLS
@testable import Gateway

/// A request on a forwarded listener, without sockets: whose header is believed, the card it
/// carries judged by the same verifier as a handshake's, the citizen's address, the refusals.
@Suite struct ForwardedRequestTests {
    static let proxy = SocketAddress(parsing: "10.0.0.5:40000")!
    static let stranger = SocketAddress(parsing: "192.0.2.66:5000")!

    func listener(_ world: RouterWorld, format: ForwardedCertificateFormat = .rfc9440, prefix: String = "") -> (ListenerConfig, ForwardedSettings) {
        guard var listener = world.generation.listener(named: "login") else { fatalError("RouterWorld has a login listener") }
        let settings = ForwardedSettings(fields: ForwardedCertificateFields(format: format), clientAddress: .xForwardedFor,
                                         proxyCertificates: [[UInt8](repeating: 1, count: 32)], unauthenticatedLoopbackProxy: false)
        listener.forwarded = settings
        listener.clientCertificate = .none
        listener.trustedProxies = [IPNetwork(parsing: "10.0.0.0/24")!]
        listener.publicPathPrefix = prefix
        return (listener, settings)
    }

    func read(_ world: RouterWorld, _ headers: [HTTPHeader], peer: SocketAddress = proxy, format: ForwardedCertificateFormat = .rfc9440) -> ForwardedRequest.Outcome {
        let (listener, settings) = self.listener(world, format: format)
        // Built directly: a chain of 100 is larger than the parser's default head limit.
        let request = HTTPRequest(method: "GET", target: "/whoami", headers: [HTTPHeader(name: "Host", value: "localhost")] + headers)
        return ForwardedRequest.read(request, peer: peer, listener: listener, settings: settings)
    }

    func accepted(_ outcome: ForwardedRequest.Outcome) throws -> (card: ConnectionCard, client: SocketAddress) {
        guard case .accepted(let card, let client) = outcome else {
            Issue.record("refused: \(outcome)")
            throw CancellationError()
        }
        return (card, client)
    }

    func refusal(_ outcome: ForwardedRequest.Outcome) -> String? {
        if case .refused(let reason, _) = outcome { return reason }
        return nil
    }

    func clientCert(_ der: [UInt8]) -> HTTPHeader { HTTPHeader(name: "Client-Cert", value: ":\(Data(der).base64EncodedString()):") }

    @Test func aLeafFromTheTrustedProxyIsJudgedLikeAHandshake() throws {
        let world = try RouterWorld()
        let card = world.card()
        let (forwarded, client) = try accepted(read(world, [clientCert(card.der), HTTPHeader(name: "X-Forwarded-For", value: "203.0.113.9, 198.51.100.23")]))
        #expect(client == SocketAddress(parsing: "198.51.100.23:0"), "the right-most hop the proxy appended")
        let (verdict, computed) = forwarded.evaluate(under: world.generation).settled
        #expect(computed)
        // The proxy sent the leaf alone: the chain comes from the bundle.
        #expect(verdict.reason == "ok")
        #expect(verdict.identity?.codiceFiscale.value == "RSSMRA80A01H501U")
        #expect(verdict.origin == .forwarded(proxy: Self.proxy))
        #expect(verdict.cardLogin.via == "forwarded" && verdict.cardLogin.proxyAddress == "10.0.0.5:40000")
        #expect(verdict.handshakeAt == nil, "when the card signed the proxy's handshake is not known")
    }

    @Test func theSameChecksRefuseAForeignCard() throws {
        let world = try RouterWorld()
        let foreign = TestPKI.client("x", issuer: TestPKI.ca("Other"), key: RouterWorld.cardKey)
        let (forwarded, _) = try accepted(read(world, [clientCert(foreign.der)]))
        #expect(forwarded.evaluate(under: world.generation).settled.verdict.reason == "unknown_issuer")
    }

    @Test func noHeaderFromTheProxyIsNoCertificate() throws {
        let world = try RouterWorld()
        let (forwarded, client) = try accepted(read(world, []))
        #expect(client == Self.proxy, "without X-Forwarded-For the proxy is the client")
        let verdict = forwarded.evaluate(under: world.generation).settled.verdict
        #expect(verdict.reason == "no_certificate")
        #expect(verdict.origin == .forwarded(proxy: Self.proxy))
    }

    @Test func aHeaderFromAnyoneElseIsRefused() throws {
        let world = try RouterWorld()
        let card = world.card()
        #expect(refusal(read(world, [clientCert(card.der)], peer: Self.stranger)) == "untrusted_peer")
        #expect(refusal(read(world, [HTTPHeader(name: "client-cert-chain", value: ":AAAA:")], peer: Self.stranger)) == "untrusted_peer")
        // Without the header: served with no card, and its X-Forwarded-For is not believed.
        let (forwarded, client) = try accepted(read(world, [HTTPHeader(name: "X-Forwarded-For", value: "198.51.100.23")], peer: Self.stranger))
        #expect(client == Self.stranger)
        #expect(forwarded.evaluate(under: world.generation).settled.verdict.origin == .handshake)
    }

    @Test func twoCertificateFieldsAreRefused() throws {
        let world = try RouterWorld()
        let card = world.card()
        #expect(refusal(read(world, [clientCert(card.der), clientCert(card.der)])) == "duplicate_field")
    }

    @Test func unreadableValuesAreMalformed() throws {
        let world = try RouterWorld()
        let card = world.card()
        let cases: [(HTTPHeader, String)] = [
            (HTTPHeader(name: "Client-Cert", value: ":not*base64:"), "bad_base64"),
            (clientCert(Array(card.der.prefix(card.der.count / 2))), "not_x509_der"),
            (HTTPHeader(name: "Client-Cert", value: "-----BEGIN CERTIFICATE-----"), "not_byte_sequence"),
        ]
        for (header, detail) in cases {
            let (forwarded, _) = try accepted(read(world, [header]))
            let verdict = forwarded.evaluate(under: world.generation).settled.verdict
            #expect(verdict.reason == "malformed_certificate", "\(header.value)")
            #expect(verdict.detail == detail)
        }
        let chain = (0..<100).map { _ in HTTPHeader(name: "Client-Cert-Chain", value: ":\(Data(card.der).base64EncodedString()):") }
        let (forwarded, _) = try accepted(read(world, [clientCert(card.der)] + chain))
        #expect(forwarded.evaluate(under: world.generation).settled.verdict.detail == "chain_too_long")
    }

    @Test func whoamiShowsWhereTheCardCameFrom() throws {
        let world = try RouterWorld()
        let (forwarded, client) = try accepted(read(world, [clientCert(world.card().der), HTTPHeader(name: "X-Forwarded-For", value: "198.51.100.23")]))
        var context = world.context(card: nil)
        context.card = forwarded
        context.client = client
        let result = world.respond(world.request("GET", "/whoami"), context)
        let body = try #require(JSONValue.decode(result.response.body))
        #expect(body["client_address"]?.stringValue == "198.51.100.23:0")
        #expect(body["certificate_source"]?.stringValue == "forwarded")
        #expect(body["proxy_address"]?.stringValue == "10.0.0.5:40000")
        #expect(body["verdict"]?["reason"]?.stringValue == "ok")
        #expect(result.verdicts.count == 1)
    }

    @Test func pagesLiveUnderThePublicPath() throws {
        let world = try RouterWorld()
        var context = world.context(card: world.card())
        context.pathPrefix = "/cns"
        let page = world.respond(world.request("GET", "/cns/verifica?lang=en"), context)
        #expect(page.response.status == 200)
        let html = String(decoding: page.response.body, as: UTF8.self)
        #expect(html.contains("href=\"/cns/?lang=en\""), "the home link stays under the prefix")
        #expect(!html.contains("href=\"/?lang"))
        #expect(world.respond(world.request("GET", "/cns"), context).response.status == 200)
        #expect(world.respond(world.request("GET", "/verifica"), context).response.status == 404)
        #expect(world.respond(world.request("GET", "/cnsx/verifica"), context).response.status == 404)
        #expect(world.respond(world.request("GET", "/healthz"), context).response.status == 200, "probes answer at the root")
        #expect(Router.localPath("/cns/whoami", prefix: "/cns") == "/whoami")
        #expect(Router.localPath("/whoami", prefix: "") == "/whoami")
    }

    @Test func aForwardedLoginIsAuditedWithItsProxy() throws {
        let world = try RouterWorld(oidc: true)
        let query = "/authorize?client_id=fse&redirect_uri=https%3A%2F%2Ffse.example%2Fcb&response_type=code&scope=openid"
            + "&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        let (forwarded, client) = try accepted(read(world, [clientCert(world.card().der), HTTPHeader(name: "X-Forwarded-For", value: "198.51.100.23")]))
        var context = world.context(card: nil)
        context.card = forwarded
        context.client = client
        let login = world.respond(world.request("GET", query), context)
        #expect(login.response.status == 302)
        let store = try #require(world.generation.oidc?.provider.store)
        let record = try #require(try store.audit(AuditFilter()).last)
        #expect(record.reason == "ok" && record.via == "forwarded" && record.proxyAddress == "10.0.0.5:40000")
        #expect(record.clientAddress == "198.51.100.23")
        // A handshake's login says so too.
        _ = world.respond(world.request("GET", query), world.context(card: world.card()))
        #expect(try store.audit(AuditFilter()).last?.via == "handshake")
    }
}
