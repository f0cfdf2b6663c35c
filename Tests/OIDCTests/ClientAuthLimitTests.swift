import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

/// Issue 15, item 2: failed client authentications are limited per source (an IPv6 client by
/// its /64) and per client id; past the limit the answer is 429 with Retry-After and the slow
/// hash does not run; memory stays bounded under a flood of distinct sources.
@Suite struct ClientAuthLimiterTests {
    static let settings = ClientAuthLimiter.Settings(perSource: 3, perClient: 5, window: 60, maxSources: 1000)

    @Test func aBurstPassesThenRetryAfterSaysWhen() {
        let limiter = ClientAuthLimiter(settings: Self.settings)
        let source = ClientAuthLimiter.sourceKey("192.0.2.1")
        for _ in 0..<3 {
            #expect(limiter.check(source: source, clientID: nil, now: 100) == .allowed)
            limiter.recordFailure(source: source, clientID: nil, now: 100)
        }
        // Three per 60 s drain one per 20 s: the next attempt may come in 20 s.
        #expect(limiter.check(source: source, clientID: nil, now: 100) == .limited(retryAfter: 20))
        #expect(limiter.check(source: source, clientID: nil, now: 115) == .limited(retryAfter: 5))
        #expect(limiter.check(source: source, clientID: nil, now: 120.01) == .allowed)
        // Other sources are not affected.
        #expect(limiter.check(source: ClientAuthLimiter.sourceKey("192.0.2.2"), clientID: nil, now: 100) == .allowed)
    }

    @Test func anIPv6ClientCountsByItsSlash64() {
        #expect(ClientAuthLimiter.sourceKey("2001:db8:1:2::1") == ClientAuthLimiter.sourceKey("2001:db8:1:2:ffff:eeee:dddd:cccc"))
        #expect(ClientAuthLimiter.sourceKey("2001:db8:1:2::1") != ClientAuthLimiter.sourceKey("2001:db8:1:3::1"))
        #expect(ClientAuthLimiter.sourceKey("::ffff:192.0.2.7") == ClientAuthLimiter.sourceKey("192.0.2.7"))
        #expect(ClientAuthLimiter.sourceKey("192.0.2.7") != ClientAuthLimiter.sourceKey("192.0.2.8"))
        let limiter = ClientAuthLimiter(settings: Self.settings)
        for i in 0..<3 { limiter.recordFailure(source: ClientAuthLimiter.sourceKey("2001:db8:1:2::\(i + 1)"), clientID: nil, now: 0) }
        #expect(limiter.check(source: ClientAuthLimiter.sourceKey("2001:db8:1:2::abcd"), clientID: nil, now: 0) != .allowed)
        #expect(limiter.check(source: ClientAuthLimiter.sourceKey("2001:db8:1:3::1"), clientID: nil, now: 0) == .allowed)
    }

    @Test func aClientIDIsLimitedAcrossSources() {
        let limiter = ClientAuthLimiter(settings: Self.settings)
        for i in 0..<5 { limiter.recordFailure(source: ClientAuthLimiter.sourceKey("198.51.100.\(i)"), clientID: "fse", now: 0) }
        let fresh = ClientAuthLimiter.sourceKey("203.0.113.9")
        #expect(limiter.check(source: fresh, clientID: "fse", now: 0) == .limited(retryAfter: 12))
        #expect(limiter.check(source: fresh, clientID: "other", now: 0) == .allowed)
    }

    @Test func memoryStaysBoundedUnderAFloodOfDistinctSources() {
        let limiter = ClientAuthLimiter(settings: Self.settings)
        var maximum = 0
        for i in 0..<200_000 {
            // Every one a different /64, as an attacker holding a /48 can send.
            let address = "2001:db8:\(String(i >> 16, radix: 16)):\(String(i & 0xFFFF, radix: 16))::1"
            limiter.recordFailure(source: ClientAuthLimiter.sourceKey(address), clientID: nil, now: Double(i) / 1000)
            maximum = max(maximum, limiter.trackedSources)
        }
        #expect(maximum <= Self.settings.maxSources, "tracked \(maximum) sources")
        // The latest ones are still remembered.
        let last = ClientAuthLimiter.sourceKey("2001:db8:3:d3f::1")  // i = 199,999: one failure already
        #expect(limiter.trackedSources > 0)
        limiter.recordFailure(source: last, clientID: nil, now: 200)
        limiter.recordFailure(source: last, clientID: nil, now: 200)
        #expect(limiter.check(source: last, clientID: nil, now: 200) != .allowed)
    }
}

@Suite struct ClientAuthFloodTests {
    static func world(perSource: Int = 3, perClient: Int = 100) -> TestWorld {
        TestWorld(clientAuthLimits: ClientAuthLimiter.Settings(perSource: perSource, perClient: perClient, window: 60))
    }

    func revoke(_ world: TestWorld, _ auth: HTTPHeader, from address: String = "192.0.2.1") -> HTTPResponse {
        world.post("/revoke", form: [("token", "not-a-token")], headers: [auth], info: world.info(login: false, address: address))
    }

    @Test func wrongSecretsFromOneSourceGet429WithoutTheSlowHash() throws {
        let world = Self.world()
        for _ in 0..<3 { #expect(revoke(world, TestWorld.basic("fse", "wrong")).status == 401) }
        let slow = world.provider.secrets.slowRuns.load(ordering: .relaxed)
        #expect(slow == 3)
        for _ in 0..<50 {
            let refused = revoke(world, TestWorld.basic("fse", "wrong"))
            #expect(refused.status == 429)
            #expect(Int(refused.headers.first(named: "Retry-After") ?? "") == 20)
            #expect(refused.json["error"] == "temporarily_unavailable")
        }
        // Past the limit no PBKDF2 ran, not even for the right secret (it never verified before).
        #expect(revoke(world, TestWorld.basic()).status == 429)
        #expect(world.provider.secrets.slowRuns.load(ordering: .relaxed) == slow)
        // Another source is served.
        #expect(revoke(world, TestWorld.basic(), from: "192.0.2.2").status == 200)
        // When the window has drained one failure, the source may try again.
        world.clock.time += 21
        #expect(revoke(world, TestWorld.basic()).status == 200)
    }

    @Test func aFloodedClientKeepsWorkingWithASecretThatVerifiedBefore() throws {
        let world = Self.world(perSource: 100, perClient: 3)
        #expect(revoke(world, TestWorld.basic(), from: "198.51.100.1").status == 200)
        // Attackers from many sources exhaust fse's allowance.
        for i in 0..<3 { _ = revoke(world, TestWorld.basic("fse", "guess\(i)"), from: "203.0.113.\(i)") }
        let slow = world.provider.secrets.slowRuns.load(ordering: .relaxed)
        #expect(revoke(world, TestWorld.basic("fse", "guess"), from: "203.0.113.99").status == 429)
        // fse's own back end, with the secret that verified before: served, no PBKDF2 run.
        #expect(revoke(world, TestWorld.basic(), from: "198.51.100.1").status == 200)
        #expect(world.provider.secrets.slowRuns.load(ordering: .relaxed) == slow)
    }

    @Test func unknownClientIDsCountAgainstTheSourceOnly() throws {
        let world = Self.world()
        for i in 0..<3 { #expect(revoke(world, TestWorld.basic("nobody-\(i)", "x")).status == 401) }
        #expect(revoke(world, TestWorld.basic("nobody-9", "x")).status == 429)
        #expect(world.provider.secrets.slowRuns.load(ordering: .relaxed) == 0)
    }

    @Test func theTokenAndIntrospectionEndpointsAreLimitedToo() throws {
        let world = Self.world()
        for _ in 0..<3 {
            #expect(world.post("/introspect", form: [("token", "x")], headers: [TestWorld.basic("fse", "wrong")]).status == 401)
        }
        #expect(world.post("/introspect", form: [("token", "x")], headers: [TestWorld.basic("fse", "wrong")]).status == 429)
        let token = world.post("/token", form: [("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", "https://fse.example.it/callback")],
                               headers: [TestWorld.basic("fse", "wrong")])
        #expect(token.status == 429 && token.headers.first(named: "Retry-After") != nil)
    }
}
