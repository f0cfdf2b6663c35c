import JSON
public import OIDC
import FoundationEssentials
import Posix
import Synchronization

/// The shared store: PostgreSQL through libpq, for several gateway instances behind one proxy.
/// Every method is one statement or one transaction, so an instance can die at any point
/// without leaving half a login behind; a code is spent by exactly one instance
/// (`UPDATE ... WHERE used_at IS NULL RETURNING`, which row locking serializes).
public final class PostgresStore: OIDCStore, Sendable {
    let pool: PostgresPool
    public let target: PostgresTarget
    private let migrated = Atomic<Bool>(false)
    private let migrationLock = Mutex(())

    /// Connects lazily: an unreachable database at start is logged (health down) and retried,
    /// not fatal, so a gateway started before its database recovers on its own.
    public init(target: PostgresTarget, health: StoreHealth = .shared) throws(StoreError) {
        self.target = target
        pool = PostgresPool(target: target, health: health)
        do {
            try ensureMigrated(probe: true)
        } catch where error.isUnavailable {
            // The probe and the next request retry.
        }
        startProbe()
    }

    private static let cache = Mutex<[PostgresTarget: PostgresStore]>([:])

    /// The process-wide store for `target`: a SIGHUP reload keeps the pool and its connections.
    public static func open(target: PostgresTarget) throws(StoreError) -> PostgresStore {
        if let store = cache.withLock({ $0[target] }) { return store }
        let store = try PostgresStore(target: target)
        return cache.withLock { stores in
            if let existing = stores[target] { return existing }
            stores[target] = store
            return store
        }
    }

    private func ensureMigrated(probe: Bool = false) throws(StoreError) {
        if migrated.load(ordering: .acquiring) { return }
        try migrationLock.withLock { (_: inout ()) throws(StoreError) in
            if migrated.load(ordering: .acquiring) { return }
            try pool.withConnection(probe: probe) { (db) throws(StoreError) in try Migrations.apply(to: db) }
            migrated.store(true, ordering: .releasing)
        }
    }

    public var schemaVersion: Int {
        (try? run { db throws(StoreError) -> Int in Int(try db.query("SELECT version FROM schema_version").first?[0] ?? "0") ?? 0 }) ?? 0
    }

    /// One connection for a caller's own statements (the shared secrets), after migration.
    func withConnection<T>(_ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try run(body)
    }

    /// `body` inside one transaction on one connection.
    func withTransaction<T>(_ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try run { db throws(StoreError) -> T in try db.transaction { () throws(StoreError) -> T in try body(db) } }
    }

    @discardableResult
    private func run<T>(probe: Bool = false, _ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try ensureMigrated(probe: probe)
        return try pool.withConnection(probe: probe, body)
    }

    /// While the database is down, a connect attempt every half second, so `/readyz` and the
    /// login pages come back within about a second of the database; while it is up, a cheap
    /// query every two seconds, so an idle instance notices an outage before a citizen does.
    private func startProbe() {
        Posix.Thread.start(name: "cns-store-probe") { [weak self] in
            while true {
                guard let self else { return }
                let healthy = self.pool.health.isAvailable
                _ = try? self.run(probe: true) { db throws(StoreError) in try db.query("SELECT 1") }
                Posix.Thread.sleep(seconds: healthy && self.pool.health.isAvailable ? 2 : 0.5)
            }
        }
    }

    // MARK: codes

    public func saveCode(_ record: AuthorizationCodeRecord) throws(StoreError) {
        try run { db throws(StoreError) in
            try db.query("INSERT INTO codes (code_hash, client_id, expires_at, data) VALUES ($1, $2, $3, $4)",
                         [.text(record.codeHash), .text(record.clientID), .int(record.expiresAt), .text(record.payload.text)])
        }
    }

    public func redeemCode(hash: String, now: Int, check: (AuthorizationCodeRecord) -> String?) throws(StoreError) -> CodeRedemption {
        try run { db throws(StoreError) -> CodeRedemption in
            try db.transaction { () throws(StoreError) -> CodeRedemption in
                // The race is decided here: FOR UPDATE locks the row, so concurrent presentations
                // of one code (on any instance) queue on it, and each reads the row as the one
                // before it committed it. The check runs on the locked row, before anything is
                // written: a presenter that fails it leaves the code as it was.
                guard let row = try db.query("SELECT client_id, expires_at, used_at, data FROM codes WHERE code_hash = $1 FOR UPDATE",
                                             [.text(hash)]).first else { return .unknown }
                guard let client = row[0], let expires = row[1].flatMap(Int.init), let data = row[3],
                      let payload = JSONValue.decode(Array(data.utf8)),
                      let record = AuthorizationCodeRecord(codeHash: hash, clientID: client, expiresAt: expires, payload: payload)
                else { throw StoreError(code: -1, reason: "code row unreadable") }
                if let reason = check(record) { return .refused(reason: reason) }
                if row[2] != nil {
                    try db.query("UPDATE codes SET replayed_at = $2 WHERE code_hash = $1", [.text(hash), .int(now)])
                    let revoked = try db.query("UPDATE tokens SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
                                               [.text(hash), .int(now)])
                    return .replayed(clientID: client, revokedTokens: revoked.affected)
                }
                if now >= expires { return .expired }
                try db.query("UPDATE codes SET used_at = $2 WHERE code_hash = $1", [.text(hash), .int(now)])
                return .redeemed(record)
            }
        }
    }

    // MARK: tokens

    public func saveToken(_ record: IssuedTokenRecord) throws(StoreError) -> Bool {
        try run { db throws(StoreError) -> Bool in
            try db.transaction { () throws(StoreError) -> Bool in
                if let code = record.codeHash {
                    // FOR UPDATE: a replay on another instance either happens before (we see it and
                    // refuse) or waits for us (and then revokes the token we save).
                    let row = try db.query("SELECT replayed_at FROM codes WHERE code_hash = $1 FOR UPDATE", [.text(code)])
                    if let first = row.first, first[0] != nil { return false }
                }
                try db.query("INSERT INTO tokens (jti, client_id, code_hash, expires_at, revoked_at, data) VALUES ($1, $2, $3, $4, $5, $6)",
                             [.text(record.jti), .text(record.clientID), .optional(record.codeHash), .int(record.expiresAt),
                              record.revoked ? .int(record.issuedAt) : .null, .text(record.payload.text)])
                return true
            }
        }
    }

    public func token(jti: String) throws(StoreError) -> IssuedTokenRecord? {
        try run { db throws(StoreError) -> IssuedTokenRecord? in
            guard let row = try db.query("SELECT client_id, code_hash, expires_at, revoked_at, data FROM tokens WHERE jti = $1",
                                         [.text(jti)]).first,
                  let payload = JSONValue.decode(Array((row[4] ?? "").utf8)) else { return nil }
            return IssuedTokenRecord(jti: jti, clientID: row[0] ?? "", codeHash: row[1], expiresAt: Int(row[2] ?? "") ?? 0,
                                     revoked: row[3] != nil, payload: payload)
        }
    }

    public func revokeToken(jti: String) throws(StoreError) {
        try run { db throws(StoreError) in
            try db.query("UPDATE tokens SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL",
                         [.int(Int(Date().timeIntervalSince1970)), .text(jti)])
        }
    }

    // MARK: sessions

    public func saveSession(_ r: SessionRecord) throws(StoreError) {
        let data: JSONValue = ["subject": r.subject.jsonValue]
        try run { db throws(StoreError) in
            try db.query("""
                INSERT INTO sessions (id_hash, sid, thumbprint, auth_time, created_at, last_seen, idle_expires_at, absolute_expires_at, data)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (id_hash) DO UPDATE SET sid = EXCLUDED.sid, thumbprint = EXCLUDED.thumbprint, auth_time = EXCLUDED.auth_time,
                created_at = EXCLUDED.created_at, last_seen = EXCLUDED.last_seen, idle_expires_at = EXCLUDED.idle_expires_at,
                absolute_expires_at = EXCLUDED.absolute_expires_at, data = EXCLUDED.data
                """, [.text(r.idHash), .text(r.sid), .text(r.thumbprint), .int(r.authTime), .int(r.createdAt), .int(r.lastSeen),
                      .int(r.idleExpiresAt), .int(r.absoluteExpiresAt), .text(data.text)])
        }
    }

    public func session(idHash: String) throws(StoreError) -> SessionRecord? {
        try run { db throws(StoreError) -> SessionRecord? in
            guard let row = try db.query("""
                SELECT sid, thumbprint, auth_time, created_at, last_seen, idle_expires_at, absolute_expires_at, data
                FROM sessions WHERE id_hash = $1
                """, [.text(idHash)]).first,
                  let data = JSONValue.decode(Array((row[7] ?? "").utf8)),
                  let subject = data["subject"].flatMap(LoginSubject.init(jsonValue:)) else { return nil }
            let int: (Int) -> Int = { Int(row[$0] ?? "") ?? 0 }
            return SessionRecord(idHash: idHash, sid: row[0] ?? "", thumbprint: row[1] ?? "", subject: subject, authTime: int(2),
                                 createdAt: int(3), lastSeen: int(4), idleExpiresAt: int(5), absoluteExpiresAt: int(6))
        }
    }

    public func touchSession(idHash: String, lastSeen: Int, idleExpiresAt: Int) throws(StoreError) {
        try run { db throws(StoreError) in
            try db.query("UPDATE sessions SET last_seen = $1, idle_expires_at = $2 WHERE id_hash = $3",
                         [.int(lastSeen), .int(idleExpiresAt), .text(idHash)])
        }
    }

    public func deleteSession(idHash: String) throws(StoreError) {
        try run { db throws(StoreError) in try db.query("DELETE FROM sessions WHERE id_hash = $1", [.text(idHash)]) }
    }

    public func deleteSessions(sid: String) throws(StoreError) {
        try run { db throws(StoreError) in try db.query("DELETE FROM sessions WHERE sid = $1", [.text(sid)]) }
    }

    // MARK: client assertions

    public func useAssertion(key: String, expiresAt: Int, now: Int) throws(StoreError) -> Bool {
        try run { db throws(StoreError) -> Bool in
            try db.transaction { () throws(StoreError) -> Bool in
                try db.query("DELETE FROM assertions WHERE key = $1 AND expires_at <= $2", [.text(key), .int(now)])
                let inserted = try db.query("INSERT INTO assertions (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                                            [.text(key), .int(expiresAt)])
                return inserted.affected == 1
            }
        }
    }

    // MARK: audit

    public func appendAudit(_ r: AuditRecord) throws(StoreError) {
        // Text from a certificate or a request may hold a NUL, which PostgreSQL text cannot:
        // the record is kept with U+FFFD in its place rather than lost (or the login failed).
        let clean: (String) -> String = { $0.utf8.contains(0) ? $0.replacing("\u{0}", with: "\u{FFFD}") : $0 }
        // Autocommit: the server has flushed its WAL (synchronous_commit=on) when this returns.
        try run { db throws(StoreError) in
            try db.query("""
                INSERT INTO audit (time_ms, event, client_address, client_id, reason, cf, cert_serial, cert_issuer, repeated, via, proxy_address,
                                   card_kind)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                """, [.int(r.time), .text(clean(r.event)), .text(clean(r.clientAddress)), .text(clean(r.clientID)), .text(clean(r.reason)),
                      .optional(r.codiceFiscale.map(clean)), .optional(r.certificateSerial.map(clean)),
                      .optional(r.certificateIssuer.map(clean)), .optional(r.repeated),
                      .optional(r.via.map(clean)), .optional(r.proxyAddress.map(clean)), .optional(r.cardKind.map(clean))])
        }
    }

    public func audit(_ filter: AuditFilter) throws(StoreError) -> [AuditRecord] {
        var sql = "SELECT id, time_ms, event, client_address, client_id, reason, cf, cert_serial, cert_issuer, repeated, via, proxy_address, card_kind"
            + " FROM audit WHERE TRUE"
        var parameters: [SQLValue] = []
        func add(_ clause: String, _ value: SQLValue) {
            parameters.append(value)
            sql += " AND \(clause) $\(parameters.count)"
        }
        if let since = filter.since { add("time_ms >=", .int(since)) }
        if let reason = filter.reason { add("reason =", .text(reason)) }
        if let cf = filter.codiceFiscale { add("cf =", .text(cf)) }
        parameters.append(.int(filter.limit))
        sql += " ORDER BY id LIMIT $\(parameters.count)"
        return try run { db throws(StoreError) -> [AuditRecord] in
            try db.query(sql, parameters).rows.map { row in
                AuditRecord(id: Int64(row[0] ?? ""), time: Int64(row[1] ?? "") ?? 0, clientAddress: row[3] ?? "", clientID: row[4] ?? "",
                            reason: row[5] ?? "", codiceFiscale: row[6], certificateSerial: row[7], certificateIssuer: row[8],
                            event: row[2] ?? "", repeated: row[9].flatMap { Int($0) }, via: row[10], proxyAddress: row[11],
                            cardKind: row[12])
            }
        }
    }

    // MARK: purge

    public func purgeExpired(now: Int, auditBefore: Int64?) throws(StoreError) -> Int {
        try run { db throws(StoreError) -> Int in
            try db.transaction { () throws(StoreError) -> Int in
                var removed = 0
                if let auditBefore {
                    // `[audit] retention_days`, a batch at a time (by the time index).
                    removed += try db.query("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time_ms < $1 ORDER BY time_ms LIMIT $2)",
                                            [.int(auditBefore), .int(auditPurgeBatch)]).affected
                }
                removed += try db.query("DELETE FROM codes WHERE expires_at + $1 <= $2", [.int(SQLiteStore.codeReplayWindow), .int(now)]).affected
                removed += try db.query("DELETE FROM tokens WHERE expires_at <= $1", [.int(now)]).affected
                removed += try db.query("DELETE FROM sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1", [.int(now)]).affected
                removed += try db.query("DELETE FROM assertions WHERE expires_at <= $1", [.int(now)]).affected
                return removed
            }
        }
    }
}
