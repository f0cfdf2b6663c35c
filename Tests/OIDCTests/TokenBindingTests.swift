import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

/// Issue 15, item 5: RFC 8705 certificate-bound access tokens, only for clients registered for
/// them, enforced wherever such a token is accepted (userinfo, introspection), and advertised
/// only as far as that goes.
@Suite struct TokenBindingTests {
    static let card = TestWorld.subject.thumbprint
    static let otherCard = String(repeating: "cd", count: 32)

    func tokens(_ world: TestWorld, client: String, redirect: String) throws -> [String: JSONValue] {
        let (code, _) = try #require(world.code(client: client, redirect: redirect))
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect), ("code_verifier", TestWorld.verifier)]
        var headers: [HTTPHeader] = []
        if client == "fse" { headers.append(TestWorld.basic()) } else { form.append(("client_id", client)) }
        let response = world.post("/token", form: form, headers: headers)
        #expect(response.status == 200, "\(response.text)")
        return try #require(response.json.objectValue)
    }

    func userinfo(_ world: TestWorld, _ token: String, certificate: String?) -> HTTPResponse {
        let request = HTTPRequest(method: "GET", target: "/userinfo", headers: [HTTPHeader(name: "Authorization", value: "Bearer \(token)")])
        guard case .response(let r)? = world.provider.handle(request, info: world.info(login: false, certificate: certificate)) else {
            return HTTPResponse(status: 0)
        }
        return r
    }

    func accessClaims(_ token: String) throws -> [String: JSONValue] { try JWS.decode(token).claims }

    @Test func aClientNotRegisteredForBindingGetsAnUnboundToken() throws {
        let world = TestWorld(boundClient: true)
        let access = try #require(try tokens(world, client: "fse", redirect: "https://fse.example.it/callback")["access_token"]?.stringValue)
        #expect(try accessClaims(access)["cnf"] == nil)
        // Its back end has no card to present, and needs none.
        #expect(userinfo(world, access, certificate: nil).status == 200)
        let introspection = world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()])
        #expect(introspection.json["active"] == true && introspection.json["cnf"] == nil)
    }

    @Test func aBoundTokenIsHonouredOnlyWithTheCardItWasIssuedFor() throws {
        let world = TestWorld(boundClient: true)
        let access = try #require(try tokens(world, client: "cup-web", redirect: "https://cup.example.it/app")["access_token"]?.stringValue)
        let cnf = try #require(try accessClaims(access)["cnf"]?["x5t#S256"]?.stringValue)
        #expect(cnf == Base64URL.encode([UInt8](repeating: 0xab, count: 32)))

        let withCard = userinfo(world, access, certificate: Self.card)
        #expect(withCard.status == 200 && withCard.json["sub"] == "BNCLRA85T41F205Y", "\(withCard.text)")
        for presented in [nil, Self.otherCard] {
            let refused = userinfo(world, access, certificate: presented)
            #expect(refused.status == 401, "\(refused.text)")
            #expect(refused.headers.first(named: "WWW-Authenticate")?.contains("invalid_token") == true)
            #expect(refused.json["sub"] == nil)
        }
        let audit = try world.store.audit(AuditFilter(reason: "token_binding_mismatch"))
        #expect(audit.count == 2 && audit.allSatisfy { $0.event == "userinfo" && $0.clientID == "cup-web" })
    }

    @Test func introspectionOfABoundTokenNeedsTheSameCertificate() throws {
        // A bound confidential client: fse with binding switched on.
        let world = TestWorld(boundClient: true)
        var configuration = world.provider.configuration
        let index = try #require(configuration.clients.firstIndex { $0.id == "fse" })
        configuration.clients[index].certificateBoundAccessTokens = true
        let provider = Provider(configuration: configuration, keys: world.provider.keys, store: world.store,
                                pairwiseSalt: Array(repeating: 7, count: 32), now: { Date(timeIntervalSince1970: world.clock.time) })
        let bound = TestWorld.Bound(world: world, provider: provider)
        let access = try bound.token()
        let basic = TestWorld.basic()
        #expect(bound.introspect(access, basic, certificate: Self.card).json["active"] == true)
        #expect(bound.introspect(access, basic, certificate: Self.card).json["cnf"]?["x5t#S256"] != nil)
        #expect(bound.introspect(access, basic, certificate: nil).json == ["active": false])
        #expect(bound.introspect(access, basic, certificate: Self.otherCard).json == ["active": false])
    }

    @Test func discoveryAdvertisesBindingOnlyWhenAClientUsesIt() throws {
        let plain = TestWorld()
        guard case .response(let a)? = plain.get("/.well-known/openid-configuration") else { Issue.record(); return }
        #expect(a.json["tls_client_certificate_bound_access_tokens"] == false)
        #expect(a.json["mtls_endpoint_aliases"] == nil)

        let bound = TestWorld(boundClient: true)
        guard case .response(let b)? = bound.get("/.well-known/openid-configuration") else { Issue.record(); return }
        #expect(b.json["tls_client_certificate_bound_access_tokens"] == true)
        // The card is presented on the login listener: that is where the bound token is usable.
        #expect(b.json["mtls_endpoint_aliases"]?["userinfo_endpoint"] == "https://login.example.it:8443/userinfo")
        #expect(b.json["mtls_endpoint_aliases"]?["introspection_endpoint"] == "https://login.example.it:8443/introspect")
    }
}

extension TestWorld {
    /// A second provider over the same store and clock, for a changed configuration.
    struct Bound {
        let world: TestWorld
        let provider: Provider

        func token() throws -> String {
            guard case .response(let authorize)? = provider.handle(HTTPRequest(method: "GET", target: TestWorld.authorizeQuery()), info: world.info()),
                  let location = authorize.headers.first(named: "Location"), let query = location.split(separator: "?", maxSplits: 1).last,
                  let code = FormURLEncoding.decode(query.utf8).first(where: { $0.name == "code" })?.value else {
                throw JOSEError(.malformed, "no code")
            }
            let response = post("/token", form: [("grant_type", "authorization_code"), ("code", code),
                                                 ("redirect_uri", "https://fse.example.it/callback"), ("code_verifier", TestWorld.verifier)],
                                headers: [TestWorld.basic()], certificate: nil)
            guard let token = response.json["access_token"]?.stringValue else { throw JOSEError(.malformed, response.text) }
            return token
        }

        func introspect(_ token: String, _ auth: HTTPHeader, certificate: String?) -> HTTPResponse {
            post("/introspect", form: [("token", token)], headers: [auth], certificate: certificate)
        }

        func post(_ path: String, form: [(String, String)], headers: [HTTPHeader], certificate: String?) -> HTTPResponse {
            let request = HTTPRequest(method: "POST", target: path,
                                      headers: [HTTPHeader(name: "Content-Type", value: "application/x-www-form-urlencoded")] + headers,
                                      body: Array(FormEncoder.encode(form).utf8))
            guard case .response(let response)? = provider.handle(request, info: world.info(login: false, certificate: certificate)) else {
                return HTTPResponse(status: 0)
            }
            return response
        }
    }
}
