import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

/// Issue 15, item 3: the audit of failures nobody authenticated for is sampled and counted;
/// logins and token issuance stay one durable record each; old records are purged.
@Suite struct AuditThrottleTests {
    func record(_ event: String, _ reason: String, at ms: Int64 = 0) -> AuditRecord {
        AuditRecord(time: ms, clientAddress: "192.0.2.1", clientID: "", reason: reason, event: event)
    }

    @Test func theFirstOfAWindowAreWrittenTheRestCountedIntoOneSummary() {
        let throttle = AuditThrottle(settings: AuditThrottle.Settings(perWindow: 3, window: 60))
        var written = 0
        for i in 0..<100 {
            let (write, summaries) = throttle.admit(record("token", "invalid_client", at: Int64(i)), now: 10 + Double(i) / 10)
            #expect(summaries.isEmpty)
            if write { written += 1 }
        }
        #expect(written == 3)
        // Another kind of failure has its own allowance.
        #expect(throttle.admit(record("login", "no_certificate"), now: 20).write)
        #expect(throttle.flush(now: 69).isEmpty)
        let summaries = throttle.flush(now: 71)
        #expect(summaries.count == 1)
        let summary = summaries.first
        #expect(summary?.event == "token" && summary?.reason == "invalid_client" && summary?.repeated == 97 && summary?.time == 99)
        // The next window starts afresh, and nothing is counted twice.
        #expect(throttle.admit(record("token", "invalid_client"), now: 80).write)
        #expect(throttle.flush(now: 200).isEmpty)
    }

    @Test func aSummaryAlsoComesWithTheNextRecordOfAnyKind() {
        let throttle = AuditThrottle(settings: AuditThrottle.Settings(perWindow: 1, window: 60))
        _ = throttle.admit(record("revoke", "invalid_client"), now: 0)
        _ = throttle.admit(record("revoke", "invalid_client"), now: 1)
        let (write, summaries) = throttle.admit(record("login", "unknown_client"), now: 61)
        #expect(write && summaries.map(\.repeated) == [1])
    }

    @Test func keysAreBounded() {
        let throttle = AuditThrottle(settings: AuditThrottle.Settings(perWindow: 1, window: 60, maxKeys: 8))
        for i in 0..<10_000 { _ = throttle.admit(record("login", "reason-\(i)"), now: 0) }
        let summaries = throttle.flush(now: 100)
        // Eight kinds, one record each; the rest under "other": one written, the others counted.
        #expect(summaries.count == 1 && summaries.first?.reason == "other" && summaries.first?.repeated == 10_000 - 8 - 1)
    }
}

@Suite struct AuditVolumeTests {
    static func world(perWindow: Int = 5) -> TestWorld {
        TestWorld(clientAuthLimits: ClientAuthLimiter.Settings(perSource: 1_000_000, perClient: 1_000_000, window: 60),
                  auditThrottle: AuditThrottle.Settings(perWindow: perWindow, window: 60))
    }

    func count(_ world: TestWorld, _ event: String, _ reason: String) throws -> (single: Int, counted: Int) {
        let records = try world.store.audit(AuditFilter(reason: reason)).filter { $0.event == event }
        return (records.filter { $0.repeated == nil }.count, records.compactMap(\.repeated).reduce(0, +))
    }

    @Test func aFloodOfUnauthenticatedFailuresLeavesAFewRecordsAndACount() throws {
        let world = Self.world()
        for _ in 0..<200 { _ = world.get(TestWorld.authorizeQuery(client: "nobody")) }
        for i in 0..<200 { _ = world.post("/revoke", form: [("token", "x")], headers: [TestWorld.basic("nobody-\(i)", "wrong")]) }
        for _ in 0..<200 {
            _ = world.get(TestWorld.authorizeQuery(), world.info(card: CardLogin(reason: "unknown_issuer", subject: nil)))
        }
        #expect(try count(world, "login", "unknown_client") == (5, 0))
        #expect(try count(world, "revoke", "invalid_client") == (5, 0))
        #expect(try count(world, "login", "unknown_issuer") == (5, 0))
        // A minute later the next purge writes one summary per kind.
        world.clock.time += 61
        _ = world.get("/jwks")
        #expect(try count(world, "login", "unknown_client") == (5, 195))
        #expect(try count(world, "revoke", "invalid_client") == (5, 195))
        #expect(try count(world, "login", "unknown_issuer") == (5, 195))
    }

    @Test func loginsAndTokensStayOneRecordEach() throws {
        let world = Self.world(perWindow: 1)
        for _ in 0..<30 {
            let (code, _) = try #require(world.code())
            #expect(world.redeem(code).status == 200)
        }
        #expect(try count(world, "login", "ok") == (30, 0))
        #expect(try count(world, "token", "ok") == (30, 0))
        // A failure of an authenticated client is kept one by one too (it is that client's doing).
        for _ in 0..<10 {
            let (code, _) = try #require(world.code())
            _ = world.redeem(code, verifier: String(repeating: "z", count: 43))
        }
        #expect(try count(world, "token", "pkce_failed") == (10, 0))
    }

    @Test func retentionDaysPurgesOldRecordsOnly() throws {
        let store = MemoryStore()
        let day: Int64 = 86_400_000
        let now: Int64 = 1_800_000_000_000
        for age in [0, 10, 100, 400, 800] {
            try store.appendAudit(AuditRecord(time: now - Int64(age) * day, clientAddress: "", clientID: "fse", reason: "ok"))
        }
        let configuration = ProviderConfiguration(issuer: TestWorld.issuer, clients: [], auditRetentionDays: 365)
        let provider = Provider(configuration: configuration, keys: KeySet(keys: []), store: store, pairwiseSalt: [],
                                now: { Date(timeIntervalSince1970: TimeInterval(now / 1000)) })
        _ = provider.handle(HTTPRequest(method: "GET", target: "/jwks"), info: TestWorld().info())
        let ages = try store.audit(AuditFilter()).map { (now - $0.time) / day }
        #expect(ages == [0, 10, 100])
    }
}
