import FoundationEssentials
import HTTP1
import JSON
import Posix
import TestSupport
import Testing
import TLS
@testable import Gateway

/// A generation built from a real configuration (files made by TestPKI), and requests routed
/// through it without any socket: the router as a function of the request and the facts.
final class RouterWorld: @unchecked Sendable {
    // @unchecked: built once in init, read afterwards.
    let dir = TestPKI.directory("router-tests")
    let ca = TestPKI.ca("Regione Test - CA Cittadini")
    let generation: Generation
    let shared: SharedState
    let router = Router(accessLog: false)
    static let cardKey = TestKey.rsa(bits: 2048)

    /// `trust`: more `[trust]` lines (after `ca_bundle`).
    init(oidc: Bool = false, trust: String = "") throws {
        let serverKey = TestKey.ecP256()
        dir.write("server.pem", TestPKI.server(["localhost"], issuer: ca, key: serverKey).pem + ca.pem)
        dir.write("server.key", serverKey.pem)
        dir.write("ca.pem", ca.pem)
        var text = """
            [[listener]]
            name = "login"
            address = "127.0.0.1:0"
            certificate = "server.pem"
            private_key = "server.key"

            [[listener]]
            name = "public"
            address = "127.0.0.1:0"
            certificate = "server.pem"
            private_key = "server.key"
            client_certificate = "none"

            [trust]
            ca_bundle = "ca.pem"
            \(trust)
            """
        if oidc {
            try FileManager.default.createDirectory(atPath: "\(dir.path)/state", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            text += """

                [server]
                state_dir = "state"

                [oidc]
                issuer = "https://localhost:8443"
                login_base_url = "https://localhost:9443"

                [[client]]
                id = "fse"
                name = "Fascicolo"
                secret_hash = "\(OIDCAdmin.hashSecret("a-long-enough-test-secret-for-the-router"))"
                redirect_uris = ["https://fse.example/cb"]
                """
        }
        let config = try GatewayConfig.load(path: dir.write("gateway.toml", text))
        generation = try Generation(number: 7, config: config)
        shared = SharedState(generation: generation)
    }

    deinit { dir.remove() }

    /// A CNS authentication certificate of this world's CA.
    func card(cf: String = "RSSMRA80A01H501U") -> TestCertificate {
        TestPKI.certificate(CertificateSpec(
            subject: [("C", "IT"), ("O", "Test"), ("OU", "Regione Test"), ("CN", "\(cf)/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4="),
                      ("GN", "MARIO"), ("SN", "ROSSI")],
            extensions: [("keyUsage", "critical,digitalSignature"), ("extendedKeyUsage", "clientAuth"),
                         ("certificatePolicies", "1.3.76.16.2.1")]), key: Self.cardKey, issuer: ca)
    }

    /// The facts of a connection on `listener` that presented `card` (verified as the handshake would).
    func context(listener: String = "login", card: TestCertificate? = nil, admin: Bool = false) -> RequestContext {
        let connectionCard: ConnectionCard
        if let card {
            let chain = generation.trust.verify(leafDER: card.der)
            connectionCard = ConnectionCard(chain: chain, presented: PresentedCertificates(leafDER: card.der), handshakeAt: Date(),
                                            generation: generation.number)
        } else {
            connectionCard = .none()
        }
        return RequestContext(listener: admin ? "admin" : listener, isAdmin: admin,
                              requestsClientCertificate: !admin && listener == "login",
                              client: SocketAddress(parsing: "192.0.2.7:5000")!,
                              tls: admin ? nil : RequestContext.TLSFacts(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", alpn: nil),
                              card: connectionCard, generation: generation, server: shared)
    }

    func request(_ method: String, _ target: String, headers: [HTTPHeader] = [], body: String = "") -> HTTPRequest {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if !body.isEmpty { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n\(body)"
        let bytes = Array(text.utf8)
        guard case .request(let request, _) = bytes.withUnsafeBytes({ HTTPRequestParser.parse($0, limits: HTTPLimits()) }) else {
            fatalError("test request does not parse: \(text)")
        }
        return request
    }

    /// Routes and, for deferred work, runs it here; the verdicts the router reported.
    func respond(_ request: HTTPRequest, _ context: RequestContext)
        -> (response: HTTPResponse, reason: String?, verdicts: [CardVerdict], deferred: Bool, lane: Router.Lane?) {
        var verdicts: [CardVerdict] = []
        switch router.route(request, context: context, cardEvaluated: { verdicts.append($0) }) {
        case .response(let response, let reason):
            return (response, reason, verdicts, false, nil)
        case .deferred(let reason, let lane, let work):
            let answer = work()
            if let verdict = answer.cardVerdict { verdicts.append(verdict) }
            return (answer.response, reason ?? answer.cardVerdict?.reason, verdicts, true, lane)
        }
    }
}

private func json(_ response: HTTPResponse) -> JSONValue? { JSONValue.decode(response.body) }

@Suite struct RouterTests {
    @Test func whoamiJudgesTheCardOncePerConnection() throws {
        let world = try RouterWorld()
        let context = world.context(card: world.card())
        let first = world.respond(world.request("GET", "/whoami"), context)
        #expect(first.response.status == 200)
        let body = json(first.response)
        #expect(body?["verdict"]?["reason"]?.stringValue == "ok")
        #expect(body?["identity"]?.text.contains("RSSMRA80A01H501U") == true)
        #expect(body?["client_address"]?.stringValue == "192.0.2.7:5000")
        #expect(body?["tls_version"]?.stringValue == "TLSv1.3")
        #expect(first.reason == "ok")
        #expect(first.verdicts.map(\.reason) == ["ok"])
        // The same connection's next request reuses the verdict and does not report it again.
        let second = world.respond(world.request("GET", "/verifica"), context)
        #expect(second.response.status == 200)
        #expect(String(decoding: second.response.body, as: UTF8.self).contains("RSSMRA80A01H501U"))
        #expect(second.verdicts.isEmpty)
    }

    @Test func noCardAndAForeignCard() throws {
        let world = try RouterWorld()
        let none = world.respond(world.request("GET", "/whoami"), world.context())
        #expect(json(none.response)?["verdict"]?["reason"]?.stringValue == "no_certificate")
        #expect(none.verdicts.map(\.reason) == ["no_certificate"])
        let stranger = TestPKI.client("x", issuer: TestPKI.ca("Elsewhere"), key: RouterWorld.cardKey)
        let foreign = world.respond(world.request("GET", "/whoami"), world.context(card: stranger))
        #expect(json(foreign.response)?["verdict"]?["reason"]?.stringValue == "unknown_issuer")
    }

    @Test func probesAndPagesNeverJudgeTheCard() throws {
        let world = try RouterWorld()
        let context = world.context(card: world.card())
        for target in ["/healthz", "/readyz", "/", "/nowhere"] {
            let result = world.respond(world.request("GET", target), context)
            #expect(result.verdicts.isEmpty, "\(target) judged the card")
            #expect(result.reason == nil)
        }
        #expect(context.card.evaluated == nil)
        let health = world.respond(world.request("GET", "/healthz"), context)
        #expect(health.response.status == 200)
        #expect(json(health.response)?["trust"]?["generation"]?.intValue == 7)
        #expect(world.respond(world.request("GET", "/nowhere"), context).response.status == 404)
    }

    @Test func theCIEHelpPageIsServedWithoutJudgingTheCard() throws {
        let world = try RouterWorld()
        let context = world.context(card: world.card())
        let result = world.respond(world.request("GET", "/cie?lang=en"), context)
        #expect(result.response.status == 200)
        #expect(result.verdicts.isEmpty && result.reason == nil)
        let page = String(decoding: result.response.body, as: UTF8.self)
        #expect(page.contains("<html lang=\"en\">") && page.contains("electronic identity card"))
        #expect(result.response.headers.first(named: "Content-Security-Policy")?.contains("default-src 'none'") == true)
        #expect(world.respond(world.request("POST", "/cie", body: "x"), context).response.status == 405)
        // The verdict names the card it judged.
        let whoami = world.respond(world.request("GET", "/whoami"), context)
        #expect(json(whoami.response)?["verdict"]?["card_kind"]?.stringValue == "cns")
    }

    @Test func methodsOtherThanGet() throws {
        let world = try RouterWorld()
        let result = world.respond(world.request("POST", "/healthz", body: "x"), world.context())
        #expect(result.response.status == 405)
        #expect(result.response.headers.first(named: "Allow") == "GET")
        #expect(world.respond(world.request("DELETE", "/elsewhere"), world.context()).response.status == 404)
    }

    @Test func drainingShowsOnTheProbes() throws {
        let world = try RouterWorld()
        world.shared.draining.store(true, ordering: .releasing)
        #expect(world.respond(world.request("GET", "/healthz"), world.context()).response.status == 503)
        #expect(world.respond(world.request("GET", "/readyz"), world.context()).response.status == 503)
    }

    @Test func theAdminListenerServesMetricsAndProbesOnly() throws {
        let world = try RouterWorld()
        GatewayMetrics.bootstrap()
        let metrics = world.respond(world.request("GET", "/metrics"), world.context(admin: true))
        #expect(metrics.response.status == 200)
        #expect(String(decoding: metrics.response.body, as: UTF8.self).contains("cns_trust_generation 7"))
        #expect(world.respond(world.request("GET", "/whoami"), world.context(admin: true)).response.status == 404)
        #expect(world.respond(world.request("POST", "/metrics", body: "x"), world.context(admin: true)).response.status == 405)
    }
}

@Suite struct RouterOIDCTests {
    @Test func theBackChannelNeverJudgesACard() throws {
        let world = try RouterWorld(oidc: true)
        let context = world.context(listener: "public")
        let token = world.respond(world.request("POST", "/token", headers: [
            HTTPHeader(name: "Content-Type", value: "application/x-www-form-urlencoded"),
        ], body: "grant_type=authorization_code&code=nothing&redirect_uri=https%3A%2F%2Ffse.example%2Fcb"), context)
        #expect(token.deferred)
        #expect(token.lane == .backChannel)
        #expect(token.response.status == 401)
        #expect(token.verdicts.isEmpty)
        #expect(token.reason == nil)
        for target in ["/jwks", "/.well-known/openid-configuration"] {
            let result = world.respond(world.request("GET", target), context)
            #expect(result.response.status == 200 && result.verdicts.isEmpty)
            #expect(result.lane == .backChannel)
        }
        // Even on the login listener, with a card, the back channel leaves the card alone.
        let withCard = world.context(card: world.card())
        #expect(world.respond(world.request("GET", "/jwks"), withCard).verdicts.isEmpty)
        #expect(withCard.card.evaluated == nil)
    }

    @Test func aLoginJudgesTheCardOnTheLoginListenerOnly() throws {
        let world = try RouterWorld(oidc: true)
        let query = "/authorize?client_id=fse&redirect_uri=https%3A%2F%2Ffse.example%2Fcb&response_type=code&scope=openid"
            + "&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        let login = world.respond(world.request("GET", query), world.context(card: world.card()))
        #expect(login.deferred)
        #expect(login.lane == .login)
        #expect(login.verdicts.map(\.reason) == ["ok"])
        #expect(login.reason == "ok")
        #expect(login.response.status == 302)
        #expect(login.response.headers.first(named: "Location")?.hasPrefix("https://fse.example/cb?code=") == true)
        // The public listener does not read the card: its page sends the browser on.
        let hop = world.respond(world.request("GET", query), world.context(listener: "public", card: world.card()))
        #expect(hop.verdicts.isEmpty)
        #expect(hop.lane == .login)
        #expect(hop.response.status == 200)
        #expect(String(decoding: hop.response.body, as: UTF8.self).contains("https://localhost:9443/authorize?"))
        // A refused card gets its page, and the verdict is reported with its reason.
        let refused = world.respond(world.request("GET", query), world.context(card: TestPKI.client("x", issuer: TestPKI.ca("Other"), key: RouterWorld.cardKey)))
        #expect(refused.response.status == 403)
        #expect(refused.verdicts.map(\.reason) == ["unknown_issuer"])
    }
}
