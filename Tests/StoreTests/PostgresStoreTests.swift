import Foundation
import OIDC
import HTTP1
import Synchronization
import Testing
@testable import Store

@Suite struct StoreLocationTests {
    @Test func sqliteAndPostgresURLsParse() throws {
        #expect(try StoreLocation.parse("sqlite:///var/lib/cns-gateway/state.db") == .sqlite(path: "/var/lib/cns-gateway/state.db"))
        guard case .postgres(let target) = try StoreLocation.parse("postgres://gw@db.example.it:6432/cns?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        else { Issue.record("not postgres"); return }
        #expect(target.user == "gw" && target.host == "db.example.it" && target.port == 6432 && target.database == "cns")
        #expect(target.parameters == ["sslmode": "verify-full", "sslrootcert": "/etc/ca.pem"])
        #expect(target.description == "postgres://gw@db.example.it:6432/cns")
        guard case .postgres(let plain) = try StoreLocation.parse("postgresql://gw@127.0.0.1/cns") else { Issue.record("not postgres"); return }
        #expect(plain.port == 5432 && plain.connectTimeout == 3)
        let keywords = Dictionary(plain.keywords(password: "pw"), uniquingKeysWith: { a, _ in a })
        #expect(keywords["password"] == "pw" && keywords["dbname"] == "cns" && keywords["connect_timeout"] == "3")
    }

    @Test(arguments: [
        "postgres://gw:secret@db/cns",          // a password in the URL
        "postgres://gw:@db/cns",                // an empty one too
        "postgres://db/cns",                    // no user
        "postgres://gw@db",                     // no database
        "postgres://gw@db/cns?sslmode=maybe",   // not a libpq sslmode
        "postgres://gw@db/cns?sslmode=require&sslmode=disable",
        "postgres://gw@db/cns?password=x",      // unknown parameter (and a password again)
        "postgres://gw@db/cns?connect_timeout=0",
        "postgres://gw@db/cns?sslrootcert=relative.pem",
        "sqlite://relative.db",
        "mysql://gw@db/cns",
        "",
    ])
    func badURLsAreRefused(_ url: String) {
        #expect(throws: StoreLocation.ParseError.self) { try StoreLocation.parse(url) }
    }

    /// Issue 15, item 7: a shared store reached without verify-full is worth a warning,
    /// unless the server is on this machine.
    @Test(arguments: [
        ("postgres://gw@db.example.it/cns", true),
        ("postgres://gw@db.example.it/cns?sslmode=require", true),
        ("postgres://gw@db.example.it/cns?sslmode=verify-ca&sslrootcert=/etc/ca.pem", true),
        ("postgres://gw@10.0.0.5:5432/cns?sslmode=prefer", true),
        ("postgres://gw@127.evil.example/cns", true),
        ("postgres://gw@[2001:db8::5]/cns?sslmode=disable", true),
        ("postgres://gw@db.example.it/cns?sslmode=verify-full&sslrootcert=/etc/ca.pem", false),
        ("postgres://gw@127.0.0.1:5432/cns", false),
        ("postgres://gw@127.3.2.1/cns?sslmode=disable", false),
        ("postgres://gw@[::1]/cns", false),
        ("postgres://gw@localhost/cns", false),
        ("postgres://gw@%2Fvar%2Frun%2Fpostgresql/cns", false),
    ])
    func transportWithoutVerifyFullIsWarnedAbout(_ url: String, _ warned: Bool) throws {
        guard case .postgres(let target) = try StoreLocation.parse(url) else { Issue.record("not postgres"); return }
        #expect((target.transportWarning != nil) == warned, "\(url): \(target.transportWarning ?? "no warning")")
        if let warning = target.transportWarning { #expect(warning.contains("verify-full") && !warning.contains("password")) }
    }

    @Test func migrationsRenderPerDialect() {
        let sqlite = Migrations.steps(.sqlite), postgres = Migrations.steps(.postgres)
        #expect(sqlite.count == postgres.count && sqlite.count == Migrations.latest)
        #expect(sqlite[0].contains("INTEGER PRIMARY KEY AUTOINCREMENT") && !sqlite[0].contains("BIGSERIAL"))
        #expect(postgres[0].contains("BIGSERIAL PRIMARY KEY") && !postgres[0].contains("AUTOINCREMENT"))
        #expect(!(sqlite + postgres).joined().contains("{"))
    }
}

@Suite struct KeyEncryptionKeyTests {
    static let hex = String(repeating: "0123456789abcdef", count: 4)

    @Test func parsesHexAndSealsRoundTrip() throws {
        let kek = try #require(KeyEncryptionKey.parse(Array((Self.hex + "\n").utf8)))
        let sealed = try kek.seal(Array("secret keys".utf8), version: 3)
        #expect(!sealed.contains("secret"))
        #expect(try kek.open(sealed, version: 3) == Data("secret keys".utf8))
        // Fresh nonce per seal.
        #expect(try kek.seal(Array("secret keys".utf8), version: 3) != sealed)
    }

    /// Issue 15, item 7: the version is part of the authenticated data.
    @Test func aSealOpensOnlyForItsOwnVersion() throws {
        let kek = try #require(KeyEncryptionKey.parse(Array(Self.hex.utf8)))
        let sealed = try kek.seal([1, 2, 3], version: 3)
        #expect(try kek.open(sealed, version: 3) == Data([1, 2, 3]))
        for other in [0, 2, 4, 1 << 32 | 3] {
            #expect(throws: (any Error).self) { try kek.open(sealed, version: other) }
        }
        #expect(throws: (any Error).self) { try kek.openLegacy(sealed) }
        // A row sealed the old way opens only as legacy.
        let legacy = try kek.seal([4, 5], context: KeyEncryptionKey.legacyContext)
        #expect(try kek.openLegacy(legacy) == Data([4, 5]))
        #expect(throws: (any Error).self) { try kek.open(legacy, version: 1) }
    }

    @Test func anotherKeyOrATamperedSealFails() throws {
        let kek = try #require(KeyEncryptionKey.parse(Array(Self.hex.utf8)))
        let other = try #require(KeyEncryptionKey.parse(Array(String(repeating: "f", count: 64).utf8)))
        #expect(kek.id != other.id)
        let sealed = try kek.seal([1, 2, 3], version: 1)
        #expect(throws: (any Error).self) { try other.open(sealed, version: 1) }
        var bytes = try #require(Data(base64Encoded: sealed))
        bytes[bytes.count - 1] ^= 1
        #expect(throws: (any Error).self) { try kek.open(bytes.base64EncodedString(), version: 1) }
    }

    @Test(arguments: ["", "00", String(repeating: "g", count: 64), String(repeating: "0", count: 66)])
    func malformedKeyFilesAreRefused(_ text: String) {
        #expect(KeyEncryptionKey.parse(Array(text.utf8)) == nil)
    }
}

/// Without a server: an unreachable database is an "unavailable" error and marks the health
/// flag down; nothing blocks past the connect timeout.
@Suite struct PostgresUnreachableTests {
    @Test func unreachableDatabaseIsUnavailableAndMarkedDown() throws {
        let health = StoreHealth()
        let started = Date()
        let store = try PostgresStore(target: PostgresTarget(user: "cns", host: "127.0.0.1", port: 1, database: "cns", poolSize: 2),
                                      health: health)
        #expect(!health.isAvailable)
        do {
            try store.appendAudit(AuditRecord(time: 1, clientAddress: "", clientID: "fse", reason: "ok"))
            Issue.record("an audit record was written to nowhere")
        } catch {
            #expect(error.isUnavailable)
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }
}

/// Against a real server when `CNS_TEST_POSTGRES_URL` names one (the integration suite starts
/// a private cluster; see testsuite/integration/pg_helpers.py). Skipped otherwise.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"] != nil))
struct PostgresStoreTests {
    /// A time (seconds) later than any real "now": rows stamped around it survive the purge in
    /// auditRetentionPurgesOldRecordsOnly, which runs concurrently against the same database.
    static let future = 3_000_000_000

    func store() throws -> PostgresStore {
        let url = try #require(ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"])
        guard case .postgres(let target) = try StoreLocation.parse(url) else { throw StoreError(code: -1, reason: "not postgres") }
        return try PostgresStore.open(target: target)
    }

    @Test func codeIsConsumedByExactlyOneOfManyConcurrentCallers() throws {
        let store = try store()
        let hash = "race-" + UUID().uuidString
        try store.saveCode(code(hash, expiresAt: 2_000_000_000))
        let outcomes = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 40) { _ in
            let outcome: String
            switch try? store.redeemCode(hash: hash, now: 100) {
            case .redeemed: outcome = "redeemed"
            case .replayed: outcome = "replayed"
            default: outcome = "other"
            }
            outcomes.withLock { $0.append(outcome) }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.filter { $0 == "redeemed" }.count == 1)
        #expect(all.filter { $0 == "replayed" }.count == 39)
    }

    @Test func replayRevokesTokensAndExpiryAndUnknownAreTold() throws {
        let store = try store()
        let hash = "replay-" + UUID().uuidString
        try store.saveCode(code(hash, expiresAt: 2_000_000_000))
        guard case .redeemed = try store.redeemCode(hash: hash, now: 100) else { Issue.record("not redeemed"); return }
        let jti = UUID().uuidString
        let token = IssuedTokenRecord(jti: jti, clientID: "fse", codeHash: hash, sub: "s", scopes: ["openid"], subject: subject,
                                      issuedAt: 100, expiresAt: 2_000_000_000)
        #expect(try store.saveToken(token))
        #expect(try store.redeemCode(hash: hash, now: 101) == .replayed(clientID: "fse", revokedTokens: 1))
        #expect(try store.token(jti: jti)?.revoked == true)
        #expect(try !store.saveToken(IssuedTokenRecord(jti: UUID().uuidString, clientID: "fse", codeHash: hash, sub: "s", scopes: [],
                                                       subject: subject, issuedAt: 100, expiresAt: 2_000_000_000)))
        // Past any real clock: auditRetentionPurgesOldRecordsOnly purges what expired before
        // today, concurrently, and must not take this code away before it is presented.
        let old = "old-" + UUID().uuidString
        try store.saveCode(code(old, expiresAt: Self.future + 50))
        #expect(try store.redeemCode(hash: old, now: Self.future + 100) == .expired)
        #expect(try store.redeemCode(hash: "none-" + UUID().uuidString, now: 100) == .unknown)
    }

    /// Issue 15, item 3: `[audit] retention_days` on the shared store.
    @Test func auditRetentionPurgesOldRecordsOnly() throws {
        let store = try store()
        let marker = "retention-" + UUID().uuidString
        let now: Int64 = 1_800_000_000_000
        let day: Int64 = 86_400_000
        // Rows no other test writes: far in the past, and far in the future.
        try store.appendAudit(AuditRecord(time: 1000 * day, clientAddress: marker, clientID: "fse", reason: "ok"))
        try store.appendAudit(AuditRecord(time: 1001 * day, clientAddress: marker, clientID: "", reason: "invalid_client", event: "token",
                                          repeated: 7))
        try store.appendAudit(AuditRecord(time: now + 1000 * day, clientAddress: marker, clientID: "fse", reason: "ok"))
        let mine = { () throws -> [AuditRecord] in try store.audit(AuditFilter(limit: 1_000_000)).filter { $0.clientAddress == marker } }
        #expect(try mine().compactMap(\.repeated) == [7])
        var removed = 0
        repeat {
            removed = try store.purgeExpired(now: Int(now / 1000), auditBefore: now - 730 * day)
        } while removed == auditPurgeBatch
        let left = try mine()
        #expect(left.count == 1 && left.first?.time == now + 1000 * day)
    }

    @Test func aRefusedPresentationLeavesTheCodeAsItWas() throws {
        let store = try store()
        let hash = "refused-" + UUID().uuidString
        try store.saveCode(code(hash, expiresAt: 2_000_000_000))
        #expect(try store.redeemCode(hash: hash, now: 100) { _ in "pkce_failed" } == .refused(reason: "pkce_failed"))
        guard case .redeemed = try store.redeemCode(hash: hash, now: 100) else { Issue.record("the refused presentation spent the code"); return }
        let jti = UUID().uuidString
        #expect(try store.saveToken(IssuedTokenRecord(jti: jti, clientID: "fse", codeHash: hash, sub: "s", scopes: [], subject: subject,
                                                      issuedAt: 100, expiresAt: 2_000_000_000)))
        #expect(try store.redeemCode(hash: hash, now: 101) { _ in "code_client_mismatch" } == .refused(reason: "code_client_mismatch"))
        #expect(try store.token(jti: jti)?.revoked == false)
        #expect(try store.redeemCode(hash: hash, now: 102) == .replayed(clientID: "fse", revokedTokens: 1))
    }

    @Test func sessionsAssertionsAndAuditRoundTrip() throws {
        let store = try store()
        let id = UUID().uuidString, sid = UUID().uuidString
        let session = SessionRecord(idHash: id, sid: sid, thumbprint: "t", subject: subject, authTime: 1, createdAt: 1, lastSeen: 1,
                                    idleExpiresAt: 2_000_000_000, absoluteExpiresAt: 2_000_000_000)
        try store.saveSession(session)
        #expect(try store.session(idHash: id) == session)
        try store.touchSession(idHash: id, lastSeen: 5, idleExpiresAt: 1_999_999_999)
        #expect(try store.session(idHash: id)?.lastSeen == 5)
        try store.deleteSessions(sid: sid)
        #expect(try store.session(idHash: id) == nil)

        // On a clock past today's, so the concurrent purge test cannot forget the assertion.
        let key = UUID().uuidString, t = Self.future
        #expect(try store.useAssertion(key: key, expiresAt: t + 200, now: t + 100))
        #expect(try !store.useAssertion(key: key, expiresAt: t + 200, now: t + 150))
        #expect(try store.useAssertion(key: key, expiresAt: t + 400, now: t + 300))

        let cf = "TSTPGS80A01H501" + String("ABCDEFGHIJ".randomElement()!)
        let since = Int64(Date().timeIntervalSince1970 * 1000)
        try store.appendAudit(AuditRecord(time: since, clientAddress: "10.0.0.1", clientID: "fse", reason: "ok", codiceFiscale: cf))
        let found = try store.audit(AuditFilter(since: since, reason: "ok", codiceFiscale: cf))
        #expect(found.count == 1 && found.first?.clientAddress == "10.0.0.1" && found.first?.id != nil)
    }
}

/// The provider secrets row (id 1) is one per database: these tests change it, so they run
/// one at a time.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"] != nil))
struct PostgresSharedSecretsTests {
    func store() throws -> PostgresStore {
        let url = try #require(ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"])
        guard case .postgres(let target) = try StoreLocation.parse(url) else { throw StoreError(code: -1, reason: "not postgres") }
        return try PostgresStore.open(target: target)
    }

    static var kek: KeyEncryptionKey { KeyEncryptionKey.parse(Array(KeyEncryptionKeyTests.hex.utf8))! }

    func row(_ store: PostgresStore) throws -> (version: Int, sealed: String) {
        try store.withConnection { db throws(StoreError) -> (version: Int, sealed: String) in
            let row = try db.query("SELECT version, sealed FROM provider_secrets WHERE id = 1").first
            return (Int(row?[0] ?? "") ?? 0, row?[1] ?? "")
        }
    }

    func write(_ store: PostgresStore, version: Int, sealed: String) throws {
        try store.withConnection { db throws(StoreError) in
            _ = try db.query("UPDATE provider_secrets SET version = $1, sealed = $2 WHERE id = 1", [.int(version), .text(sealed)])
        }
    }

    @Test func sharedSecretsAreCreatedOnceAndRotationIsSeenByOthers() throws {
        let store = try store()
        let kek = try #require(KeyEncryptionKey.parse(Array(KeyEncryptionKeyTests.hex.utf8)))
        let first = SharedSecrets(store: store, kek: kek, refreshInterval: 0)
        let second = SharedSecrets(store: store, kek: kek, refreshInterval: 0)
        let a = try first.loadOrCreate(required: [.es256], now: 1_000)
        let b = try second.loadOrCreate(required: [.es256], now: 1_000)
        #expect(a.pairwiseSalt == b.pairwiseSalt)
        #expect(a.keys.keys.map(\.kid) == b.keys.keys.map(\.kid))
        let rotated = try first.rotate(algorithms: [.es256], now: Int(Date().timeIntervalSince1970), overlap: 60)
        let newKid = try #require(rotated.keys.signer(.es256)?.kid)
        #expect(second.currentKeys().signer(.es256)?.kid == newKid)
        let stranger = SharedSecrets(store: store, kek: try #require(KeyEncryptionKey.parse(Array(String(repeating: "e", count: 64).utf8))))
        #expect(throws: SharedSecretsError.self) { try stranger.loadOrCreate(required: [.es256], now: 1_000) }
    }

    /// Issue 15, item 7: whoever can write the database cannot put an old key set back by
    /// relabelling its sealed value with a newer version number.
    @Test func anOldKeySetRelabelledWithANewerVersionIsRefused() throws {
        let store = try store()
        let first = SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0)
        let second = SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0)
        _ = try first.loadOrCreate(required: [.es256], now: 1_000)
        _ = try second.loadOrCreate(required: [.es256], now: 1_000)
        let old = try row(store)
        let rotated = try first.rotate(algorithms: [.es256], now: Int(Date().timeIntervalSince1970), overlap: 60)
        let current = try #require(rotated.keys.signer(.es256)?.kid)
        #expect(second.currentKeys().signer(.es256)?.kid == current)
        let now = try row(store)
        #expect(now.version > old.version)
        // The attacker writes the old sealed key set back, with a version the instances take for newer.
        try write(store, version: now.version + 1, sealed: old.sealed)
        #expect(second.currentKeys().signer(.es256)?.kid == current, "a running instance went back to the old keys")
        // An instance starting now refuses it too.
        #expect(throws: SharedSecretsError.self) {
            try SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0).loadOrCreate(required: [.es256], now: 1_000)
        }
        // Put the real row back for the other tests.
        try write(store, version: now.version, sealed: now.sealed)
    }

    /// The genuine old row (its own version) after a restart: refused by the version the
    /// instance keeps in its state directory.
    @Test func anOldKeySetIsRefusedAfterARestart() throws {
        let store = try store()
        let directory = try TemporaryDatabase()
        let versionFile = directory.directory + "/" + SharedSecrets.versionFileName
        let instance = SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0, versionFile: versionFile)
        _ = try instance.loadOrCreate(required: [.es256], now: 1_000)
        let old = try row(store)
        _ = try instance.rotate(algorithms: [.es256], now: Int(Date().timeIntervalSince1970), overlap: 60)
        let now = try row(store)
        #expect(try String(contentsOfFile: versionFile, encoding: .utf8) == "\(now.version)\n")
        try write(store, version: old.version, sealed: old.sealed)
        // Restarted (a new instance, the same state directory): refused.
        #expect(throws: SharedSecretsError.self) {
            try SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0, versionFile: versionFile).loadOrCreate(required: [.es256], now: 1_000)
        }
        try write(store, version: now.version, sealed: now.sealed)
        _ = try SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0, versionFile: versionFile).loadOrCreate(required: [.es256], now: 1_000)
    }

    /// The migration path: a row sealed before the version was bound is accepted once, where no
    /// bound row was ever seen, and re-sealed bound; after that a legacy row is refused.
    @Test func aLegacyRowIsResealedOnceAndNeverTakenAgain() throws {
        let store = try store()
        let seeded = SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0)
        let secrets = try seeded.loadOrCreate(required: [.es256], now: 1_000)
        let current = try row(store)
        let legacy = try Self.kek.seal(KeyFile.encode(secrets), context: KeyEncryptionKey.legacyContext)
        try write(store, version: current.version, sealed: legacy)

        let directory = try TemporaryDatabase()
        let versionFile = directory.directory + "/" + SharedSecrets.versionFileName
        let upgraded = SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0, versionFile: versionFile)
        let loaded = try upgraded.loadOrCreate(required: [.es256], now: 1_000)
        #expect(loaded.keys.keys.map(\.kid) == secrets.keys.keys.map(\.kid))
        let migrated = try row(store)
        #expect(migrated.version == current.version)
        #expect(try Self.kek.open(migrated.sealed, version: migrated.version).count > 0)
        #expect(throws: (any Error).self) { try Self.kek.openLegacy(migrated.sealed) }

        // Someone writes an old-format row again, under a higher version: refused, now and at restart.
        try write(store, version: migrated.version + 5, sealed: legacy)
        #expect(upgraded.currentKeys().keys.map(\.kid) == secrets.keys.keys.map(\.kid))
        #expect(throws: SharedSecretsError.self) {
            try SharedSecrets(store: store, kek: Self.kek, refreshInterval: 0, versionFile: versionFile).loadOrCreate(required: [.es256], now: 1_000)
        }
        try write(store, version: migrated.version, sealed: migrated.sealed)
    }
}

/// Issue 15, item 4: private_key_jwt replay protection on the shared store. Two assertions of
/// the same client (different jti) are two uses; the same assertion twice is a replay.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"] != nil))
struct PostgresAssertionReplayTests {
    @Test func twoAssertionsOfOneClientAreBothAcceptedAndAReplayIsNot() throws {
        let url = try #require(ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"])
        guard case .postgres(let target) = try StoreLocation.parse(url) else { Issue.record("not postgres"); return }
        let store = try PostgresStore.open(target: target)
        let now = Int(Date().timeIntervalSince1970)
        let clientKey = try SigningKey.generate(.es256, now: now)
        let clientID = "bandi-" + UUID().uuidString
        let issuer = "https://login.example.it"
        let configuration = ProviderConfiguration(issuer: issuer, clients: [
            ClientRegistration(id: clientID, keys: [clientKey.verificationKey], redirectURIs: ["https://bandi.example.it/cb"]),
        ])
        let keys = try KeySet(keys: []).completed(with: [.es256], now: now).0
        let provider = Provider(configuration: configuration, keys: keys, store: store, pairwiseSalt: Array(repeating: 3, count: 32))

        func assertion(_ jti: String) throws -> String {
            try JWS.sign(claims: ["iss": .string(clientID), "sub": .string(clientID), "aud": .string(issuer + "/revoke"),
                                  "jti": .string(jti), "iat": .int(now), "exp": .int(now + 60)], key: clientKey)
        }
        // /revoke authenticates the client and answers 200 even for an unknown token (RFC 7009).
        func revoke(with assertion: String) -> Int {
            let body = FormEncoderForTests.encode([("token", "not-a-token"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                                                   ("client_assertion", assertion)])
            let request = HTTPRequest(method: "POST", target: "/revoke",
                                      headers: [HTTPHeader(name: "Content-Type", value: "application/x-www-form-urlencoded")], body: Array(body.utf8))
            let info = ProviderRequestInfo(requestsClientCertificate: false, clientAddress: "192.0.2.9", cookieHeader: nil,
                                           card: nil)
            guard case .response(let response)? = provider.handle(request, info: info) else { return 0 }
            return response.status
        }
        let first = try assertion("jti-" + UUID().uuidString)
        #expect(revoke(with: first) == 200)
        #expect(revoke(with: try assertion("jti-" + UUID().uuidString)) == 200, "a second assertion of the same client was taken for a replay")
        #expect(revoke(with: first) == 401, "a replayed assertion was accepted")
    }

    @Test func textWithNULIsRefusedNotCutShort() throws {
        let url = try #require(ProcessInfo.processInfo.environment["CNS_TEST_POSTGRES_URL"])
        guard case .postgres(let target) = try StoreLocation.parse(url) else { Issue.record("not postgres"); return }
        let store = try PostgresStore.open(target: target)
        let prefix = "nul-" + UUID().uuidString
        #expect(throws: StoreError.self) { try store.useAssertion(key: prefix + "\u{0}a", expiresAt: 2_000_000_000, now: 1) }
        // An audit field with a NUL (a certificate name chosen by whoever made the certificate) is kept, not refused.
        let cf = "NULTST80A01H501" + String("ABCDEFGHIJ".randomElement()!)
        let marker = "192.0.2.1 " + prefix
        // A current time: the retention test purges old records of this database meanwhile.
        try store.appendAudit(AuditRecord(time: Int64(Date().timeIntervalSince1970 * 1000), clientAddress: marker, clientID: "fse", reason: "unknown_issuer",
                                          codiceFiscale: cf, certificateIssuer: "CN=evil\u{0}CN=Regione"))
        let found = try store.audit(AuditFilter(codiceFiscale: cf)).first { $0.clientAddress == marker }
        #expect(found?.certificateIssuer == "CN=evil\u{FFFD}CN=Regione")
    }
}

/// application/x-www-form-urlencoded for the test requests (the provider's own encoder is internal).
enum FormEncoderForTests {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
