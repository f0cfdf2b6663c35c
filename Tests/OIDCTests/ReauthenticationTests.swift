import Foundation
import HTTP1
import Testing
import JSON
@testable import OIDC

/// prompt=login and max_age against the age of the connection's card signature.
@Suite struct ReauthenticationTests {
    static let promptLogin = [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"), ("prompt", "login")]

    func card(handshakeAgo seconds: Double, _ world: TestWorld) -> CardLogin {
        CardLogin(reason: "ok", subject: TestWorld.subject, handshakeAt: Date(timeIntervalSince1970: world.clock.time - seconds))
    }

    func location(_ outcome: OIDCOutcome?) -> String? {
        guard case .response(let response)? = outcome else { return nil }
        return response.headers.first(named: "Location")
    }

    @Test func promptLoginOnANewConnectionIssuesACode() throws {
        let world = TestWorld()
        let outcome = world.get(TestWorld.authorizeQuery(extra: Self.promptLogin), world.info(card: card(handshakeAgo: 0.3, world)))
        #expect(try #require(location(outcome)).hasPrefix("https://fse.example.it/callback?code="))
    }

    @Test func promptLoginOnAnOldConnectionReconnectsOnceThenIssuesACode() throws {
        let world = TestWorld()
        let outcome = world.get(TestWorld.authorizeQuery(extra: Self.promptLogin), world.info(card: card(handshakeAgo: 60, world)))
        guard case .response(let response)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect(response.status == 302)
        #expect(response.headers.first(named: "Connection") == "close")
        let again = try #require(response.headers.first(named: "Location"))
        #expect(again.hasPrefix("https://login.example.it:8443/authorize?client_id=fse&"))
        #expect(again.contains("prompt=login") && again.contains("cns_reauth="))
        #expect(try world.store.audit(AuditFilter()).isEmpty, "the reconnect is part of the attempt, not an attempt")

        // The browser's next connection: the card signed after the redirect.
        world.clock.time += 1
        let target = String(again.dropFirst("https://login.example.it:8443".count))
        let second = world.get(target, world.info(card: card(handshakeAgo: 0.5, world)))
        #expect(try #require(location(second)).hasPrefix("https://fse.example.it/callback?code="))
    }

    @Test func reconnectsAreCountedAndEndInARefusalNotALoop() throws {
        let world = TestWorld()
        // A browser with many idle old connections follows each redirect on another of them.
        var target = TestWorld.authorizeQuery(extra: Self.promptLogin)
        var redirects = 0
        var markers: [String] = []
        while redirects <= Provider.maxReconnects {
            let outcome = world.get(target, world.info(card: card(handshakeAgo: 60, world)))
            guard let next = location(outcome), next.contains("cns_reauth=") else {
                guard case .page(.loginFailed(let reason, _, let back, _, _), 403, _)? = outcome else {
                    Issue.record("\(String(describing: outcome))"); return
                }
                #expect(reason == "stale_handshake")
                #expect(back.contains("error=login_required"))
                break
            }
            redirects += 1
            markers.append(try #require(URLComponents(string: next)?.queryItems?.first { $0.name == "cns_reauth" }?.value))
            target = String(next.dropFirst("https://login.example.it:8443".count))
            world.clock.time += 0.2
        }
        #expect(redirects == Provider.maxReconnects)
        // Every marker keeps the time of the first redirect: a handshake after it is enough.
        #expect(Set(markers.map { $0.split(separator: ".")[0] }).count == 1)
        #expect(try world.store.audit(AuditFilter(reason: "stale_handshake")).count == 1)
        #expect(try world.store.audit(AuditFilter()).count == 1, "redirects are part of the attempt")
    }

    @Test func aForgedExpiredOrWornOutMarkerBuysNothing() throws {
        let world = TestWorld()
        let now = Int64(world.clock.time * 1000)
        let forged = "\(now - 120_000).1.AAAAAAAAAAAAAAAAAAAAAA"
        let expired = world.provider.reauthMarker(issued: now - 200_000, reconnects: 1, clientID: "fse")
        let otherClient = world.provider.reauthMarker(issued: now - 100_000, reconnects: 1, clientID: "spa")
        let wornOut = world.provider.reauthMarker(issued: now - 100_000, reconnects: Provider.maxReconnects, clientID: "fse")
        let recounted = wornOut.replacingOccurrences(of: ".\(Provider.maxReconnects).", with: ".1.")
        for marker in [forged, expired, otherClient, wornOut, recounted, "garbage", ""] {
            let query = TestWorld.authorizeQuery(extra: Self.promptLogin + [("cns_reauth", marker)])
            let outcome = world.get(query, world.info(card: card(handshakeAgo: 150, world)))
            guard case .page(.loginFailed("stale_handshake", _, _, _, _), 403, _)? = outcome else {
                Issue.record("marker \(marker): \(String(describing: outcome))"); continue
            }
        }
        let genuine = world.provider.reauthMarker(issued: now - 100_000, reconnects: 1, clientID: "fse")
        let outcome = world.get(TestWorld.authorizeQuery(extra: Self.promptLogin + [("cns_reauth", genuine)]),
                                world.info(card: card(handshakeAgo: 90, world)))
        #expect(location(outcome)?.contains("code=") == true)
    }

    @Test func maxAgeAppliesToTheSessionAndToTheHandshake() throws {
        let world = TestWorld()
        let (_, response) = try #require(world.code())
        let cookie = try #require(response.headers.first(named: "Set-Cookie")?.split(separator: ";").first).description
        world.clock.time += 100
        let maxAge = [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"), ("max_age", "300")]
        // The session is younger than max_age: kept, whatever the connection's age.
        let kept = world.get(TestWorld.authorizeQuery(extra: maxAge), world.info(card: card(handshakeAgo: 100, world), cookie: cookie))
        #expect(location(kept)?.contains("code=") == true)

        let short = [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"), ("max_age", "30")]
        // Session too old and the connection too: reconnect.
        let old = world.get(TestWorld.authorizeQuery(extra: short), world.info(card: card(handshakeAgo: 100, world), cookie: cookie))
        #expect(location(old)?.contains("cns_reauth=") == true)
        // Session too old, but this connection's card signature is recent: a new login with that auth_time.
        let recent = world.get(TestWorld.authorizeQuery(extra: short), world.info(card: card(handshakeAgo: 10, world), cookie: cookie))
        guard case .response(let r)? = recent else { Issue.record(); return }
        #expect(r.headers.first(named: "Set-Cookie") != nil)
        let code = try #require(location(recent).flatMap { URLComponents(string: $0)?.queryItems?.first { $0.name == "code" }?.value })
        let token = try #require(world.redeem(code).json["id_token"]?.stringValue)
        let claims = try JWS.verify(token, keys: world.provider.keys.verificationKeys(now: Int(world.clock.time))).claims
        #expect(claims["auth_time"] == .int(Int(world.clock.time) - 10))
    }

    @Test func promptNoneNeverReconnects() throws {
        let world = TestWorld()
        let none = [("code_challenge", TestWorld.challenge), ("code_challenge_method", "S256"), ("prompt", "none"), ("max_age", "0")]
        let outcome = world.get(TestWorld.authorizeQuery(extra: none), world.info(card: card(handshakeAgo: 100, world)))
        #expect(location(outcome)?.contains("error=login_required") == true)
    }
}

/// One audit record per attempt, on every endpoint.
@Suite struct AuditTrailTests {
    @Test func everyAttemptLeavesOneRecord() throws {
        let world = TestWorld()
        _ = world.get(TestWorld.authorizeQuery(redirect: "https://evil.example/cb"))
        let (code, _) = try #require(world.code())
        _ = world.redeem(code, auth: TestWorld.basic("fse", "wrong"))
        _ = world.redeem(code, verifier: String(repeating: "x", count: 43))
        let (code2, _) = try #require(world.code())
        let tokens = world.redeem(code2)
        _ = world.redeem(code2)
        let access = try #require(tokens.json["access_token"]?.stringValue)
        _ = world.post("/introspect", form: [("token", access)], headers: [TestWorld.basic()])
        let (code3, _) = try #require(world.code())
        world.clock.time += 61
        _ = world.redeem(code3)
        let records = try world.store.audit(AuditFilter())
        let seen = records.map { "\($0.event):\($0.reason)" }
        #expect(seen == ["login:invalid_redirect_uri", "login:ok", "token:invalid_client", "token:pkce_failed", "login:ok", "token:ok",
                         "token:code_replayed", "introspect:token_revoked", "login:ok", "token:code_expired"])
        let ok = try #require(records.first { $0.event == "token" && $0.reason == "ok" })
        #expect(ok.clientID == "fse" && ok.codiceFiscale == TestWorld.subject.codiceFiscale && ok.clientAddress == "192.0.2.1")
    }
}
