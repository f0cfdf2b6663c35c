import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

/// Issue 15, item 6: the OIDC protocol edges a review found.
@Suite struct ProtocolEdgeTests {
    // MARK: a code is checked before it is spent

    @Test func aWrongVerifierDoesNotBurnTheCode() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let wrong = world.redeem(code, verifier: String(repeating: "x", count: 43))
        #expect(wrong.status == 400 && wrong.json["error"] == "invalid_grant")
        // The owner, with the right verifier, still gets its tokens.
        let right = world.redeem(code)
        #expect(right.status == 200, "\(right.text)")
    }

    @Test func anotherClientOrRedirectDoesNotBurnTheCode() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let otherRedirect = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code),
                                                        ("redirect_uri", "http://127.0.0.1:9999/cb"), ("code_verifier", TestWorld.verifier)],
                                       headers: [TestWorld.basic()])
        #expect(otherRedirect.json["error"] == "invalid_grant")
        // Another client (a public one authenticates with its id alone) with the right verifier.
        let publicClient = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code), ("client_id", "spa"),
                                                       ("redirect_uri", "https://fse.example.it/callback"), ("code_verifier", TestWorld.verifier)])
        #expect(publicClient.json["error"] == "invalid_grant")
        #expect(world.redeem(code).status == 200)
    }

    @Test func afterUseOnlyTheRightPresenterCountsAsAReplay() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let first = world.redeem(code)
        let access = try #require(first.json["access_token"]?.stringValue)
        // Someone with the leaked code but not the verifier: refused, and the tokens stay valid.
        #expect(world.redeem(code, verifier: String(repeating: "y", count: 43)).json["error"] == "invalid_grant")
        #expect(world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()]).json["active"] == true)
        // The real replay (same client, same verifier): refused and the tokens are revoked.
        #expect(world.redeem(code).json["error"] == "invalid_grant")
        #expect(world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()]).json["active"] == false)
    }

    @Test func theStoreLeavesARefusedCodeAsItWas() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let hash = Token.storageHash(code)
        var seen: String?
        #expect(try world.store.redeemCode(hash: hash, now: Int(world.clock.time)) { record in
            seen = record.clientID
            return "pkce_failed"
        } == .refused(reason: "pkce_failed"))
        #expect(seen == "fse")
        guard case .redeemed = try world.store.redeemCode(hash: hash, now: Int(world.clock.time)) else { Issue.record(); return }
    }

    // MARK: introspection needs client authentication

    @Test func introspectionRefusesNoneAuthentication() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code(client: "spa", redirect: "https://cup.example.it/cb"))
        let tokens = world.post("/token", form: [("grant_type", "authorization_code"), ("code", code), ("client_id", "spa"),
                                                 ("redirect_uri", "https://cup.example.it/cb"), ("code_verifier", TestWorld.verifier)])
        let access = try #require(tokens.json["access_token"]?.stringValue)
        let introspection = world.post("/introspect", form: [("token", access), ("client_id", "spa")])
        #expect(introspection.status == 401 && introspection.json["error"] == "invalid_client", "\(introspection.text)")
        #expect(introspection.json["active"] == nil)
        // Revocation stays open to a public client (RFC 7009 section 5).
        #expect(world.post("/revoke", form: [("token", access), ("client_id", "spa")]).status == 200)
    }

    // MARK: http redirect URIs: loopback IP literals only

    @Test(arguments: ["http://127.0.0.1:9999/cb", "http://127.10.20.30/cb", "http://[::1]:8080/cb", "https://127.evil.example/cb",
                      "https://service.example.it/cb?x=1"])
    func acceptedRedirectURIs(_ uri: String) {
        #expect(RedirectURIRule.problem(uri) == nil, "\(uri)")
    }

    @Test(arguments: ["http://127.evil.example/cb", "http://127.0.0.1.evil.example/cb", "http://localhost/cb", "http://LOCALHOST:80/cb",
                      "http://[::ffff:127.0.0.1]/cb", "http://0x7f.0.0.1/cb", "http://127.1/cb", "http://2130706433/cb",
                      "http://[::2]/cb", "http://128.0.0.1/cb", "http://service.example.it/cb"])
    func refusedRedirectURIs(_ uri: String) {
        #expect(RedirectURIRule.problem(uri) != nil, "\(uri)")
    }

    // MARK: form_post cannot be framed

    @Test func formPostPageCannotBeFramed() throws {
        let world = TestWorld()
        let query = TestWorld.authorizeQuery(extra: [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"),
                                                     ("response_mode", "form_post")])
        guard case .response(let response)? = world.get(query) else { Issue.record(); return }
        let csp = try #require(response.headers.first(named: "Content-Security-Policy"))
        let directives = csp.split(separator: ";").map { $0.trimmingWhitespace() }
        #expect(directives.contains("frame-ancestors 'none'"), "\(csp)")
    }
}
