import Foundation
import OIDC
import Synchronization
import Testing
@testable import Store

/// Each test gets its own database file in a fresh directory, removed afterwards.
final class TemporaryDatabase {
    let directory: String
    var path: String { directory + "/test.sqlite" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

let subject = LoginSubject(codiceFiscale: "RSSMRA80A01H501U", givenName: "MARIO", familyName: "ROSSI", cardID: "6120016461039008",
                           administration: "REGIONE", certificateSerial: "0A", certificateIssuer: "CN=CA", thumbprint: String(repeating: "1f", count: 32))

func code(_ hash: String, expiresAt: Int = 1_000) -> AuthorizationCodeRecord {
    AuthorizationCodeRecord(codeHash: hash, clientID: "fse", redirectURI: "https://fse.example.it/cb", scopes: ["openid", "profile"],
                            nonce: "n", codeChallenge: "c", authTime: 10, sid: "sid-1", subject: subject, acr: "acr",
                            issuedAt: 10, expiresAt: expiresAt)
}

@Suite struct SQLiteStoreTests {
    @Test func migratesOnceAndRefusesANewerSchema() throws {
        let db = try TemporaryDatabase()
        do {
            let store = try SQLiteStore(path: db.path)
            #expect(store.schemaVersion == Migrations.latest)
        }
        let again = try SQLiteStore(path: db.path)
        #expect(again.schemaVersion == Migrations.latest)
        let attributes = try FileManager.default.attributesOfItem(atPath: db.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let raw = try SQLiteConnection(path: db.path, create: false)
        try raw.execute("PRAGMA user_version = \(Migrations.latest + 1)")
        #expect(throws: StoreError.self) { try SQLiteStore(path: db.path) }
    }

    @Test func missingDatabaseIsNotCreatedWhenAskedNotTo() throws {
        let db = try TemporaryDatabase()
        #expect(throws: StoreError.self) { try SQLiteStore(path: db.path, create: false) }
        #expect(!FileManager.default.fileExists(atPath: db.path))
    }

    @Test func codeRoundTripsAndIsConsumedOnce() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try store.saveCode(code("h1"))
        #expect(try store.redeemCode(hash: "h1", now: 20) == .redeemed(code("h1")))
        #expect(try store.redeemCode(hash: "nope", now: 20) == .unknown)
        try store.saveCode(code("h2", expiresAt: 30))
        #expect(try store.redeemCode(hash: "h2", now: 30) == .expired)
    }

    @Test func aRefusedPresentationLeavesTheCodeAsItWas() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try store.saveCode(code("h"))
        #expect(try store.redeemCode(hash: "h", now: 20) { $0.clientID == "fse" ? "pkce_failed" : nil } == .refused(reason: "pkce_failed"))
        #expect(try store.redeemCode(hash: "h", now: 20) == .redeemed(code("h")))
        // Once spent, a presenter that fails the check is refused without counting as a replay.
        let token = IssuedTokenRecord(jti: "j", clientID: "fse", codeHash: "h", sub: "s", scopes: [], subject: subject,
                                      issuedAt: 20, expiresAt: 320)
        #expect(try store.saveToken(token))
        #expect(try store.redeemCode(hash: "h", now: 21) { _ in "code_client_mismatch" } == .refused(reason: "code_client_mismatch"))
        #expect(try store.token(jti: "j")?.revoked == false)
        #expect(try store.redeemCode(hash: "h", now: 22) == .replayed(clientID: "fse", revokedTokens: 1))
    }

    @Test func concurrentRedemptionYieldsExactlyOneWinner() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try store.saveCode(code("race"))
        let wins = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if case .redeemed? = try? store.redeemCode(hash: "race", now: 20) { wins.add(1, ordering: .relaxed) }
        }
        #expect(wins.load(ordering: .relaxed) == 1)
    }

    @Test func replayRevokesTheTokensOfTheFirstUseAndBlocksLaterOnes() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try store.saveCode(code("h"))
        guard case .redeemed = try store.redeemCode(hash: "h", now: 20) else { Issue.record(); return }
        let token = IssuedTokenRecord(jti: "j1", clientID: "fse", codeHash: "h", sub: "RSSMRA80A01H501U", scopes: ["openid"],
                                      subject: subject, issuedAt: 20, expiresAt: 320)
        #expect(try store.saveToken(token))
        #expect(try store.token(jti: "j1")?.revoked == false)
        #expect(try store.redeemCode(hash: "h", now: 21) == .replayed(clientID: "fse", revokedTokens: 1))
        #expect(try store.token(jti: "j1")?.revoked == true)
        var late = token
        late.jti = "j2"
        #expect(try store.saveToken(late) == false)
        #expect(try store.token(jti: "j2") == nil)
    }

    @Test func sessionsAndAssertions() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let session = SessionRecord(idHash: "c1", sid: "s1", thumbprint: subject.thumbprint, subject: subject, authTime: 5, createdAt: 5,
                                    lastSeen: 5, idleExpiresAt: 100, absoluteExpiresAt: 500)
        try store.saveSession(session)
        #expect(try store.session(idHash: "c1") == session)
        try store.touchSession(idHash: "c1", lastSeen: 50, idleExpiresAt: 150)
        #expect(try store.session(idHash: "c1")?.idleExpiresAt == 150)
        try store.deleteSessions(sid: "s1")
        #expect(try store.session(idHash: "c1") == nil)
        #expect(try store.useAssertion(key: "fse\u{0}j", expiresAt: 100, now: 10))
        #expect(try !store.useAssertion(key: "fse\u{0}j", expiresAt: 100, now: 50))
        #expect(try store.useAssertion(key: "fse\u{0}j", expiresAt: 300, now: 200))
    }

    @Test func purgeRemovesOnlyExpiredRows() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try store.saveCode(code("old", expiresAt: 100))
        try store.saveCode(code("new", expiresAt: 10_000))
        _ = try store.saveToken(IssuedTokenRecord(jti: "t-old", clientID: "fse", codeHash: nil, sub: "x", scopes: [], subject: subject,
                                                  issuedAt: 0, expiresAt: 200))
        _ = try store.saveToken(IssuedTokenRecord(jti: "t-new", clientID: "fse", codeHash: nil, sub: "x", scopes: [], subject: subject,
                                                  issuedAt: 0, expiresAt: 5_000))
        try store.saveSession(SessionRecord(idHash: "s-old", sid: "a", thumbprint: "t", subject: subject, authTime: 0, createdAt: 0,
                                            lastSeen: 0, idleExpiresAt: 300, absoluteExpiresAt: 9_000))
        try store.appendAudit(AuditRecord(time: 1, clientAddress: "a", clientID: "fse", reason: "ok"))
        let removed = try store.purgeExpired(now: 1_000)
        #expect(removed == 3)
        #expect(try store.redeemCode(hash: "old", now: 1_000) == .unknown)
        #expect(try store.token(jti: "t-new") != nil)
        #expect(try store.token(jti: "t-old") == nil)
        #expect(try store.audit(AuditFilter()).count == 1)
    }

    /// Issue 15, item 3: `[audit] retention_days` reaches the store as `auditBefore`; summary
    /// records keep their count.
    @Test func auditRetentionPurgesOldRecordsABatchAtATime() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let now: Int64 = 1_800_000_000_000
        let day: Int64 = 86_400_000
        let old = auditPurgeBatch + 5
        let raw = try SQLiteConnection(path: db.path, create: false)
        try raw.transaction { () throws(StoreError) in
            for i in 0..<old {
                try raw.query("INSERT INTO audit (time_ms, event, client_address, client_id, reason) VALUES (?, 'login', '', '', 'ok')",
                              [.int(now - 1000 * day + Int64(i))])
            }
        }
        try store.appendAudit(AuditRecord(time: now - 10 * day, clientAddress: "", clientID: "fse", reason: "ok"))
        try store.appendAudit(AuditRecord(time: now, clientAddress: "", clientID: "", reason: "invalid_client", event: "token", repeated: 42))
        #expect(try store.purgeExpired(now: Int(now / 1000), auditBefore: now - 730 * day) == auditPurgeBatch)
        #expect(try store.purgeExpired(now: Int(now / 1000), auditBefore: now - 730 * day) == 5)
        let left = try store.audit(AuditFilter())
        #expect(left.count == 2 && left.allSatisfy { $0.time >= now - 10 * day })
        #expect(left.last?.repeated == 42 && left.first?.repeated == nil)
        // Without a retention the trail stays whole.
        #expect(try store.purgeExpired(now: Int(now / 1000) + 100_000_000) == 0)
        #expect(try store.audit(AuditFilter()).count == 2)
    }

    @Test func auditIsDurableAcrossReopenAndFilters() throws {
        let db = try TemporaryDatabase()
        do {
            let store = try SQLiteStore(path: db.path)
            try store.appendAudit(AuditRecord(time: 1_000, clientAddress: "192.0.2.1", clientID: "fse", reason: "ok",
                                              codiceFiscale: "RSSMRA80A01H501U", certificateSerial: "0A", certificateIssuer: "CN=CA"))
            try store.appendAudit(AuditRecord(time: 2_000, clientAddress: "192.0.2.2", clientID: "fse", reason: "revoked",
                                              certificateSerial: "0B", certificateIssuer: "CN=CA"))
            try store.appendAudit(AuditRecord(time: 3_000, clientAddress: "192.0.2.3", clientID: "cup", reason: "no_certificate"))
        }
        let reopened = try SQLiteStore(path: db.path, create: false)
        let all = try reopened.audit(AuditFilter())
        #expect(all.map(\.reason) == ["ok", "revoked", "no_certificate"])
        #expect(all[0].codiceFiscale == "RSSMRA80A01H501U" && all[0].certificateIssuer == "CN=CA" && all[0].clientAddress == "192.0.2.1")
        #expect(try reopened.audit(AuditFilter(since: 2_000)).count == 2)
        #expect(try reopened.audit(AuditFilter(reason: "revoked")).map(\.certificateSerial) == ["0B"])
        #expect(try reopened.audit(AuditFilter(codiceFiscale: "RSSMRA80A01H501U")).count == 1)
        #expect(try reopened.audit(AuditFilter(limit: 1)).count == 1)
    }

    /// The card kind column (migration 3) comes to a database of the step before it: the rows
    /// written before keep no kind, new ones record theirs.
    @Test func theAuditNamesTheCardAndOlderRowsSurviveTheMigration() throws {
        let db = try TemporaryDatabase()
        do {
            let raw = try SQLiteConnection(path: db.path, create: true)
            let steps = Migrations.steps(.sqlite)
            for step in steps.prefix(2) { try raw.execute(step) }
            try raw.execute("PRAGMA user_version = 2")
            try raw.execute("""
                INSERT INTO audit (time_ms, event, client_address, client_id, reason, cf) VALUES (500, 'login', '192.0.2.9', 'fse', 'ok', 'RSSMRA80A01H501U')
                """)
        }
        let store = try SQLiteStore(path: db.path)
        #expect(store.schemaVersion == Migrations.latest)
        try store.appendAudit(AuditRecord(time: 1_000, clientAddress: "192.0.2.1", clientID: "fse", reason: "invalid_fiscal_code",
                                          certificateSerial: "0C", certificateIssuer: "CN=SUBCA1", cardKind: "cie"))
        let all = try store.audit(AuditFilter())
        #expect(all.map(\.cardKind) == [nil, "cie"])
        #expect(all[0].codiceFiscale == "RSSMRA80A01H501U")
    }

    @Test func completeLoginWritesSessionCodeAndAuditTogether() throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let old = SessionRecord(idHash: "c0", sid: "s0", thumbprint: "other", subject: subject, authTime: 1, createdAt: 1,
                                lastSeen: 1, idleExpiresAt: 100, absoluteExpiresAt: 500)
        try store.saveSession(old)
        let fresh = SessionRecord(idHash: "c1", sid: "s1", thumbprint: subject.thumbprint, subject: subject, authTime: 5, createdAt: 5,
                                  lastSeen: 5, idleExpiresAt: 100, absoluteExpiresAt: 500)
        try store.completeLogin(.create(fresh, replacing: "c0"), code: code("k1"),
                                audit: AuditRecord(time: 5, clientAddress: "192.0.2.1", clientID: "fse", reason: "ok"))
        #expect(try store.session(idHash: "c0") == nil)
        #expect(try store.session(idHash: "c1") == fresh)
        try store.completeLogin(.touch(idHash: "c1", lastSeen: 50, idleExpiresAt: 150), code: code("k2"),
                                audit: AuditRecord(time: 50, clientAddress: "192.0.2.1", clientID: "fse", reason: "ok"))
        #expect(try store.session(idHash: "c1")?.idleExpiresAt == 150)
        // A failure half-way (the code already exists) leaves nothing behind: no session touch, no audit row.
        #expect(throws: StoreError.self) {
            try store.completeLogin(.touch(idHash: "c1", lastSeen: 90, idleExpiresAt: 190), code: code("k2"),
                                    audit: AuditRecord(time: 90, clientAddress: "192.0.2.1", clientID: "fse", reason: "ok"))
        }
        #expect(try store.session(idHash: "c1")?.idleExpiresAt == 150)
        #expect(try store.audit(AuditFilter()).map(\.time) == [5, 50])
        // On disk: another connection sees all of it.
        let reopened = try SQLiteStore(path: db.path, create: false)
        #expect(try reopened.audit(AuditFilter()).count == 2)
        if case .redeemed(let record) = try reopened.redeemCode(hash: "k1", now: 10) {
            #expect(record.sid == "sid-1")
        } else {
            Issue.record("the code of the first login is not there")
        }
    }

    @Test func openSharesOneStorePerPath() throws {
        let db = try TemporaryDatabase()
        let a = try SQLiteStore.open(path: db.path)
        let b = try SQLiteStore.open(path: db.directory + "/./test.sqlite")
        #expect(a === b)
    }
}
