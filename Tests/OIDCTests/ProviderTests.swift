import CNS
import Crypto
import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

@Suite struct AuthorizeTests {
    @Test func unknownClientOrRedirectIsAPageNeverARedirect() {
        let world = TestWorld()
        let unknown = world.get(TestWorld.authorizeQuery(client: "nobody"))
        guard case .page(.requestError(let reason, _), 400, _)? = unknown else { Issue.record("\(String(describing: unknown))"); return }
        #expect(reason == "unknown_client")
        let badRedirect = world.get(TestWorld.authorizeQuery(redirect: "https://evil.example/callback"))
        guard case .page(.requestError(let reason2, _), 400, _)? = badRedirect else { Issue.record("\(String(describing: badRedirect))"); return }
        #expect(reason2 == "invalid_redirect_uri")
        // A prefix of a registered URI is not that URI.
        guard case .page? = world.get(TestWorld.authorizeQuery(redirect: "https://fse.example.it/callback/x")) else { Issue.record(); return }
    }

    @Test func otherErrorsGoBackToTheClient() throws {
        let world = TestWorld()
        let query = "/authorize?" + FormEncoder.encode([("client_id", "fse"), ("redirect_uri", "https://fse.example.it/callback"),
                                                         ("response_type", "token"), ("scope", "openid"), ("state", "xyz")])
        guard case .response(let response)? = world.get(query) else { Issue.record(); return }
        #expect(response.status == 302)
        let location = try #require(response.headers.first(named: "Location"))
        #expect(location.hasPrefix("https://fse.example.it/callback?error=unsupported_response_type"))
        #expect(location.contains("state=xyz"))
        #expect(location.contains("iss=https%3A%2F%2Flogin.example.it"))
    }

    @Test func publicClientMustUsePKCE() throws {
        let world = TestWorld()
        guard case .response(let response)? = world.get(TestWorld.authorizeQuery(client: "spa", redirect: "https://cup.example.it/cb", extra: [])) else {
            Issue.record(); return
        }
        #expect(try #require(response.headers.first(named: "Location")).contains("error=invalid_request"))
        let plain = TestWorld.authorizeQuery(extra: [("code_challenge", TestWorld.challenge), ("code_challenge_method", "plain")])
        guard case .response(let r2)? = world.get(plain) else { Issue.record(); return }
        #expect(try #require(r2.headers.first(named: "Location")).contains("error=invalid_request"))
    }

    @Test func publicListenerShowsTheLandingPageThenContinuesOnTheLoginListener() {
        let world = TestWorld()
        let outcome = world.get(TestWorld.authorizeQuery(), world.info(login: false))
        guard case .page(.landing(let name, let continueURL, _), 200, _)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect(name == "Fascicolo sanitario")
        #expect(continueURL.hasPrefix("https://login.example.it:8443/authorize?client_id=fse&"))
        let direct = TestWorld(interstitial: false)
        guard case .response(let response)? = direct.get(TestWorld.authorizeQuery(), direct.info(login: false)) else { Issue.record(); return }
        #expect(response.status == 302)
        #expect(response.headers.first(named: "Location")?.hasPrefix("https://login.example.it:8443/authorize?") == true)
    }

    @Test func refusedCardShowsTheReasonPageWithAWayBackAndIsAudited() throws {
        let world = TestWorld()
        let card = CardLogin(reason: "revoked", subject: nil, certificateSerial: "99", certificateIssuer: "CN=CA")
        let outcome = world.get(TestWorld.authorizeQuery(), world.info(card: card))
        guard case .page(.loginFailed(let reason, _, let back, _, _), 403, _)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect(reason == "revoked")
        #expect(back.hasPrefix("https://fse.example.it/callback?error=access_denied"))
        #expect(back.contains("state=st-1"))
        let audit = try world.store.audit(AuditFilter())
        #expect(audit.count == 1)
        #expect(audit[0].reason == "revoked" && audit[0].clientID == "fse" && audit[0].certificateSerial == "99")
    }

    @Test func successIsAuditedAndSetsTheSessionCookie() throws {
        let world = TestWorld()
        let (_, response) = try #require(world.code())
        let location = try #require(response.headers.first(named: "Location"))
        #expect(location.contains("state=st-1") && location.contains("iss="))
        let cookie = try #require(response.headers.first(named: "Set-Cookie"))
        #expect(cookie.hasPrefix("__Host-cns_session="))
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] { #expect(cookie.contains(attribute)) }
        let audit = try world.store.audit(AuditFilter(reason: "ok"))
        #expect(audit.count == 1 && audit[0].codiceFiscale == "BNCLRA85T41F205Y" && audit[0].certificateIssuer == "C=IT, O=Test, CN=Test CA")
    }

    @Test func formPostResponseMode() throws {
        let world = TestWorld()
        let query = TestWorld.authorizeQuery(extra: [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"),
                                                     ("response_mode", "form_post")])
        guard case .response(let response)? = world.get(query) else { Issue.record(); return }
        #expect(response.status == 200)
        #expect(response.text.contains("action=\"https://fse.example.it/callback\""))
        #expect(response.text.contains("name=\"code\""))
        #expect(response.headers.first(named: "Content-Security-Policy")?.contains("sha256-") == true)
    }

    @Test func ssoSessionKeepsAuthTimeAndADifferentCardEndsIt() throws {
        let world = TestWorld()
        let (code1, response) = try #require(world.code())
        let cookie = try #require(response.headers.first(named: "Set-Cookie")?.split(separator: ";").first).description
        let first = try idToken(world, code1)
        world.clock.time += 100
        let (code2, response2) = try #require(world.code(cookie: cookie))
        #expect(response2.headers.first(named: "Set-Cookie") == nil)
        let second = try idToken(world, code2)
        #expect(first["auth_time"] == second["auth_time"])
        #expect(first["sid"] == second["sid"])

        // Another card with the same cookie: a new session, a new auth_time.
        var other = TestWorld.subject
        other.thumbprint = String(repeating: "cd", count: 32)
        world.clock.time += 100
        let outcome = world.get(TestWorld.authorizeQuery(), world.info(card: CardLogin(reason: "ok", subject: other), cookie: cookie))
        guard case .response(let r3)? = outcome else { Issue.record(); return }
        #expect(r3.headers.first(named: "Set-Cookie") != nil)

        // prompt=login ignores the session.
        world.clock.time += 10
        let (code4, _) = try #require(world.code(cookie: cookie, extra: [("code_challenge", TestWorld.challenge),
                                                                        ("code_challenge_method", "S256"), ("prompt", "login")]))
        #expect(try idToken(world, code4)["auth_time"] == .int(Int(world.clock.time)))
    }

    @Test func promptNoneWithoutSessionIsLoginRequired() throws {
        let world = TestWorld()
        let query = TestWorld.authorizeQuery(extra: [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"), ("prompt", "none")])
        guard case .response(let response)? = world.get(query) else { Issue.record(); return }
        #expect(try #require(response.headers.first(named: "Location")).contains("error=login_required"))
    }

    func idToken(_ world: TestWorld, _ code: String) throws -> [String: JSONValue] {
        let response = world.redeem(code)
        #expect(response.status == 200, "\(response.text)")
        let token = try #require(response.json["id_token"]?.stringValue)
        return try JWS.verify(token, keys: world.provider.keys.verificationKeys(now: Int(world.clock.time))).claims
    }
}

@Suite struct TokenTests {
    @Test func codeFlowIssuesSignedTokensWithTheClaims() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let response = world.redeem(code)
        #expect(response.status == 200, "\(response.text)")
        #expect(response.headers.first(named: "Cache-Control") == "no-store")
        let body = response.json
        #expect(body["token_type"] == "Bearer")
        let keys = world.provider.keys.verificationKeys(now: Int(world.clock.time))
        let id = try JWS.verify(try #require(body["id_token"]?.stringValue), keys: keys)
        #expect(id.claims["iss"] == "https://login.example.it")
        #expect(id.claims["aud"] == "fse")
        #expect(id.claims["sub"] == "BNCLRA85T41F205Y")
        #expect(id.claims["nonce"] == "n-1")
        #expect(id.claims["fiscal_number"] == "TINIT-BNCLRA85T41F205Y")
        #expect(id.claims["https://attributes.eid.gov.it/fiscal_number"] == "TINIT-BNCLRA85T41F205Y")
        #expect(id.claims["birthdate"] == "1985-12-01")
        #expect(id.claims["gender"] == "female")
        #expect(id.claims["given_name"] == "LAURA")
        #expect(id.claims["family_name"] == "BIANCHI")
        #expect(id.claims["cns_card_id"] == "6120016461039008")
        #expect(id.claims["cns_issuing_administration"] == "REGIONE LOMBARDIA")
        #expect(id.claims["amr"] == ["sc", "pin", "hwk", "cns"])
        #expect(id.claims["acr"] == .string(ProviderConfiguration.defaultACR))
        #expect(id.claims["auth_time"] == .int(Int(world.clock.time)))
        let access = try JWS.verify(try #require(body["access_token"]?.stringValue), keys: keys)
        #expect(access.type == "at+jwt")
        #expect(access.claims["client_id"] == "fse")
        // fse is not registered for certificate-bound tokens (TokenBindingTests has those).
        #expect(access.claims["cnf"] == nil)
        #expect(id.claims["at_hash"] == .string(Provider.leftHalfHash(body["access_token"]!.stringValue!, algorithm: .es256)))
    }

    @Test func aCodeWorksOnceAndItsReplayRevokesTheTokens() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let first = world.redeem(code)
        #expect(first.status == 200)
        let access = try #require(first.json["access_token"]?.stringValue)
        #expect(userinfo(world, access).status == 200)
        let second = world.redeem(code)
        #expect(second.status == 400)
        #expect(second.json["error"] == "invalid_grant")
        #expect(userinfo(world, access).status == 401)
    }

    @Test func pkceAndRedirectMustMatch() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let wrong = world.redeem(code, verifier: String(repeating: "x", count: 43))
        #expect(wrong.json["error"] == "invalid_grant")
        let (code2, _) = try #require(world.code())
        let response = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code2),
                                                   ("redirect_uri", "http://127.0.0.1:9999/cb"), ("code_verifier", TestWorld.verifier)],
                                  headers: [TestWorld.basic()])
        #expect(response.json["error"] == "invalid_grant")
    }

    @Test func expiredCodeFails() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        world.clock.time += 61
        #expect(world.redeem(code).json["error"] == "invalid_grant")
    }

    @Test func clientSecretBasicPostAndFailures() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let bad = world.redeem(code, auth: TestWorld.basic("fse", "wrong"))
        #expect(bad.status == 401)
        #expect(bad.headers.first(named: "WWW-Authenticate")?.hasPrefix("Basic") == true)
        let (code2, _) = try #require(world.code())
        let post = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code2), ("client_id", "fse"),
                                               ("client_secret", TestWorld.secret), ("redirect_uri", "https://fse.example.it/callback"),
                                               ("code_verifier", TestWorld.verifier)])
        #expect(post.status == 200, "\(post.text)")
        // Both methods at once is refused.
        let both = world.post("/token", form: [("grant_type", "authorization_code"), ("code", "x"), ("client_secret", TestWorld.secret)],
                              headers: [TestWorld.basic()])
        #expect(both.json["error"] == "invalid_request")
        // A confidential client cannot skip authentication.
        let none = world.post("/token", form: [("grant_type", "authorization_code"), ("code", "x"), ("client_id", "fse")])
        #expect(none.status == 401)
    }

    @Test func publicClientWithPKCE() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code(client: "spa", redirect: "https://cup.example.it/cb"))
        let response = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code), ("client_id", "spa"),
                                                   ("redirect_uri", "https://cup.example.it/cb"), ("code_verifier", TestWorld.verifier)])
        #expect(response.status == 200, "\(response.text)")
    }

    func assertion(_ world: TestWorld, jti: String = UUID().uuidString, aud: String = "https://login.example.it/token") throws -> String {
        let now = Int(world.clock.time)
        let header = Base64URL.encode(JSONValue.object(["alg": "ES256", "kid": "client-key-1", "typ": "JWT"]).encoded())
        let claims = Base64URL.encode(JSONValue.object(["iss": "jwtclient", "sub": "jwtclient", "aud": .string(aud), "jti": .string(jti),
                                                 "exp": .int(now + 60), "iat": .int(now)]).encoded())
        let signature = try! TestWorld.clientKey.signature(for: Array((header + "." + claims).utf8)).rawRepresentation
        return header + "." + claims + "." + Base64URL.encode(signature)
    }

    @Test func privateKeyJWT() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code(client: "jwtclient", redirect: "https://bandi.example.it/cb"))
        let jwt = try assertion(world, jti: "once")
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://bandi.example.it/cb"),
                    ("code_verifier", TestWorld.verifier), ("client_assertion_type", Provider.assertionType), ("client_assertion", jwt)]
        let response = world.post("/token", form: form)
        #expect(response.status == 200, "\(response.text)")
        // The same assertion again is a replay.
        let (code2, _) = try #require(world.code(client: "jwtclient", redirect: "https://bandi.example.it/cb"))
        var again = form
        again[1] = ("code", code2)
        #expect(world.post("/token", form: again).status == 401)
        // Wrong audience.
        again[5] = ("client_assertion", try assertion(world, aud: "https://other.example"))
        #expect(world.post("/token", form: again).status == 401)
    }

    @Test func pairwiseSubjectsDifferFromTheCodiceFiscale() throws {
        let world = TestWorld(subjectType: .pairwise)
        let (code, _) = try #require(world.code())
        let body = world.redeem(code).json
        let id = try JWS.decode(try #require(body["id_token"]?.stringValue))
        let sub = try #require(id.claims["sub"]?.stringValue)
        #expect(sub != "BNCLRA85T41F205Y" && sub.count == 43)
    }

    @Test(arguments: [JWSAlgorithm.rs256, .edDSA])
    func clientChosenIDTokenAlgorithm(_ algorithm: JWSAlgorithm) throws {
        let world = TestWorld(signing: algorithm)
        let (code, _) = try #require(world.code())
        let id = try JWS.decode(try #require(world.redeem(code).json["id_token"]?.stringValue))
        #expect(id.algorithm == algorithm)
    }

    func userinfo(_ world: TestWorld, _ token: String) -> HTTPResponse {
        guard case .response(let r)? = world.provider.handle(
            HTTPRequest(method: "GET", target: "/userinfo", headers: [HTTPHeader(name: "Authorization", value: "Bearer \(token)")]),
            info: world.info(login: false)) else { return HTTPResponse(status: 0) }
        return r
    }

    @Test func userinfoIntrospectionRevocation() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let body = world.redeem(code).json
        let access = try #require(body["access_token"]?.stringValue)
        let info = userinfo(world, access)
        #expect(info.json["sub"] == "BNCLRA85T41F205Y")
        #expect(info.json["fiscal_number"] == "TINIT-BNCLRA85T41F205Y")
        // An ID token is not an access token.
        #expect(userinfo(world, try #require(body["id_token"]?.stringValue)).status == 401)

        let active = world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()])
        #expect(active.json["active"] == true)
        #expect(active.json["client_id"] == "fse")
        #expect(active.json["cnf"] == nil)
        let revoked = world.post("/revoke", form: [("token", access)], headers: [TestWorld.basic()])
        #expect(revoked.status == 200)
        #expect(world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()]).json["active"] == false)
        #expect(userinfo(world, access).status == 401)
        #expect(world.post("/revoke", form: [("token", "garbage")], headers: [TestWorld.basic()]).status == 200)
        world.clock.time += 301
        #expect(userinfo(world, access).status == 401)
    }
}

@Suite struct DiscoveryAndLogoutTests {
    @Test func discoveryDocument() throws {
        let world = TestWorld()
        guard case .response(let response)? = world.get("/.well-known/openid-configuration") else { Issue.record(); return }
        let doc = response.json
        #expect(doc["issuer"] == "https://login.example.it")
        #expect(doc["authorization_endpoint"] == "https://login.example.it/authorize")
        #expect(doc["token_endpoint"] == "https://login.example.it/token")
        #expect(doc["jwks_uri"] == "https://login.example.it/jwks")
        #expect(doc["end_session_endpoint"] == "https://login.example.it/logout")
        #expect(doc["code_challenge_methods_supported"] == ["S256"])
        #expect(doc["response_modes_supported"] == ["query", "form_post"])
        #expect(doc["id_token_signing_alg_values_supported"] == ["ES256"])
        #expect(doc["tls_client_certificate_bound_access_tokens"] == false)
        let methods = try #require(doc["token_endpoint_auth_methods_supported"]?.arrayValue)
        for m in ["client_secret_basic", "client_secret_post", "private_key_jwt"] { #expect(methods.contains(.string(m))) }
        guard case .response(let jwks)? = world.get("/jwks") else { Issue.record(); return }
        #expect(jwks.json["keys"]?.arrayValue?.count == 1)
        #expect(world.get("/not-oidc") == nil)
    }

    @Test func logoutWithHintEndsTheSessionAndRedirects() throws {
        let world = TestWorld()
        let (code, response) = try #require(world.code())
        let cookie = try #require(response.headers.first(named: "Set-Cookie")?.split(separator: ";").first).description
        let idToken = try #require(world.redeem(code).json["id_token"]?.stringValue)
        let query = "/logout?" + FormEncoder.encode([("id_token_hint", idToken), ("post_logout_redirect_uri", "https://fse.example.it/bye"),
                                                      ("state", "s2")])
        guard case .response(let logout)? = world.get(query, world.info(login: false)) else { Issue.record(); return }
        #expect(logout.status == 302)
        #expect(logout.headers.first(named: "Location") == "https://fse.example.it/bye?state=s2")
        // The session is gone: the next login is a fresh one.
        guard case .response(let again)? = world.get(TestWorld.authorizeQuery(), world.info(cookie: cookie)) else { Issue.record(); return }
        #expect(again.headers.first(named: "Set-Cookie") != nil)
    }

    @Test func logoutToAnUnregisteredURIIsRefused() {
        let world = TestWorld()
        let query = "/logout?" + FormEncoder.encode([("client_id", "fse"), ("post_logout_redirect_uri", "https://evil.example/")])
        guard case .page(.requestError, 400, _)? = world.get(query, world.info(login: false)) else { Issue.record(); return }
        guard case .page(.loggedOut, 200, _)? = world.get("/logout", world.info(login: false)) else { Issue.record(); return }
    }
}

@Suite struct ClaimsTests {
    @Test func claimsFromACNSIdentity() throws {
        let identity = CNSIdentity(
            codiceFiscale: try CodiceFiscale("RSSMRA80A01H501U"), cardID: "6120016461039008", cnHash: nil, givenName: "MARIO",
            surname: "ROSSI", administration: "REGIONE AUTONOMA DELLA SARDEGNA", organization: "ArubaPEC S.p.A.",
            subject: "C=IT, CN=x", issuer: "C=IT, CN=CA", serialHex: "01AB", notBefore: Date(), notAfter: Date(),
            keyAlgorithm: "RSA", keyBits: 2048, signatureAlgorithm: "sha256WithRSAEncryption", policyOIDs: [],
            sha256Thumbprint: String(repeating: "0f", count: 32), source: .commonName)
        let subject = LoginSubject(identity: identity)
        #expect(subject.certificateSerial == "01AB")
        let claims = ClaimCatalog.userClaims(for: subject, scopes: ["openid", "profile", "fiscal_number", "cns"],
                                             allowed: Set(ClaimCatalog.supportedClaims), now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(claims["birthdate"] == "1980-01-01")
        #expect(claims["gender"] == "male")
        #expect(claims["name"] == "MARIO ROSSI")
        #expect(claims["fiscal_number"] == "TINIT-RSSMRA80A01H501U")
        #expect(claims["cns_issuing_administration"] == "REGIONE AUTONOMA DELLA SARDEGNA")
        #expect(claims["sub"] == nil)
        // Only what the scopes ask for, only what the client may have.
        let narrow = ClaimCatalog.userClaims(for: subject, scopes: ["openid", "profile"], allowed: ["given_name"])
        #expect(narrow == ["given_name": "MARIO"])
        #expect(LoginSubject(jsonValue: subject.jsonValue) == subject)
    }
}
