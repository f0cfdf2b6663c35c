import JSON
public import OIDC
import FoundationEssentials
import Synchronization

/// The embedded store: one SQLite file in the state directory, in WAL mode.
///
/// Durability: writes commit with synchronous=NORMAL (in the WAL, safe when the process is
/// killed, not yet when the power goes); after the audit record's commit the WAL file is
/// fsynced (`WALSync`), which makes every earlier commit durable too. Every request that writes
/// ends with its audit record before its response leaves, so one fsync per request covers the
/// session, the code or the token it wrote (the guarantee of FULL everywhere), and concurrent
/// requests share one fsync.
///
/// One connection per file per process, shared by every generation (`open(path:)` caches it),
/// so a SIGHUP reload does not reopen the database.
public final class SQLiteStore: OIDCStore, @unchecked Sendable {
    // @unchecked: `connection` is only touched inside `lock.withLock`, which serializes the
    // loop threads; SQLite itself also runs in serialized mode.
    private let connection: SQLiteConnection
    private let lock = Mutex(())
    private let walSync: WALSync

    public var path: String { connection.path }

    /// Opens (creating when `create`) and migrates the database at `path`.
    public init(path: String, create: Bool = true) throws(StoreError) {
        connection = try SQLiteConnection(path: path, create: create)
        walSync = WALSync(databasePath: path)
        try Migrations.apply(to: connection)
    }

    private static let cache = Mutex<[String: SQLiteStore]>([:])

    /// The process-wide store for `path`.
    public static func open(path: String) throws(StoreError) -> SQLiteStore {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        return try cache.withLock { (stores: inout [String: SQLiteStore]) throws(StoreError) -> SQLiteStore in
            if let store = stores[key] { return store }
            let store = try SQLiteStore(path: key)
            stores[key] = store
            return store
        }
    }

    public var schemaVersion: Int { locked { $0.userVersion } }

    private func locked<T>(_ body: (SQLiteConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try lock.withLock { (_: inout ()) throws(StoreError) -> T in try body(connection) }
    }

    private func locked<T>(_ body: (SQLiteConnection) -> T) -> T {
        lock.withLock { _ in body(connection) }
    }

    // MARK: codes

    public func saveCode(_ record: AuthorizationCodeRecord) throws(StoreError) {
        try locked { (db) throws(StoreError) in try Self.insert(record, into: db) }
    }

    private static func insert(_ record: AuthorizationCodeRecord, into db: SQLiteConnection) throws(StoreError) {
        try db.query("INSERT INTO codes (code_hash, client_id, expires_at, data) VALUES (?, ?, ?, ?)",
                     [.text(record.codeHash), .text(record.clientID), .int(record.expiresAt), .text(record.payload.text)])
    }

    public func redeemCode(hash: String, now: Int, check: (AuthorizationCodeRecord) -> String?) throws(StoreError) -> CodeRedemption {
        try locked { (db) throws(StoreError) -> CodeRedemption in
            // BEGIN IMMEDIATE holds the write lock from the first read: no other process can
            // spend the code between the check and the update.
            try db.transaction { () throws(StoreError) -> CodeRedemption in
                var found: (client: String, expires: Int, used: Bool, data: String)?
                try db.query("SELECT client_id, expires_at, used_at, data FROM codes WHERE code_hash = ?", [.text(hash)]) { row in
                    found = (row.text(0) ?? "", Int(row.int(1)), !row.isNull(2), row.text(3) ?? "")
                }
                guard let found else { return .unknown }
                guard let payload = JSONValue.decode(Array(found.data.utf8)),
                      let record = AuthorizationCodeRecord(codeHash: hash, clientID: found.client, expiresAt: found.expires, payload: payload)
                else { throw StoreError(code: -1, reason: "code row unreadable") }
                if let reason = check(record) { return .refused(reason: reason) }
                if found.used {
                    try db.query("UPDATE codes SET replayed_at = ? WHERE code_hash = ?", [.int(now), .text(hash)])
                    try db.query("UPDATE tokens SET revoked_at = ? WHERE code_hash = ? AND revoked_at IS NULL", [.int(now), .text(hash)])
                    return .replayed(clientID: found.client, revokedTokens: db.changes)
                }
                if now >= found.expires { return .expired }
                try db.query("UPDATE codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL", [.int(now), .text(hash)])
                guard db.changes == 1 else { throw StoreError(code: -1, reason: "code row changed under the write lock") }
                return .redeemed(record)
            }
        }
    }

    // MARK: tokens

    public func saveToken(_ record: IssuedTokenRecord) throws(StoreError) -> Bool {
        try locked { (db) throws(StoreError) -> Bool in
            try db.transaction { () throws(StoreError) -> Bool in
                if let code = record.codeHash {
                    var replayed = false
                    try db.query("SELECT replayed_at FROM codes WHERE code_hash = ?", [.text(code)]) { replayed = !$0.isNull(0) }
                    if replayed { return false }
                }
                try db.query("INSERT INTO tokens (jti, client_id, code_hash, expires_at, revoked_at, data) VALUES (?, ?, ?, ?, ?, ?)",
                             [.text(record.jti), .text(record.clientID), .optional(record.codeHash), .int(record.expiresAt),
                              record.revoked ? .int(record.issuedAt) : .null, .text(record.payload.text)])
                return true
            }
        }
    }

    public func token(jti: String) throws(StoreError) -> IssuedTokenRecord? {
        try locked { (db) throws(StoreError) -> IssuedTokenRecord? in
            var record: IssuedTokenRecord?
            try db.query("SELECT client_id, code_hash, expires_at, revoked_at, data FROM tokens WHERE jti = ?", [.text(jti)]) { row in
                guard let payload = JSONValue.decode(Array((row.text(4) ?? "").utf8)) else { return }
                record = IssuedTokenRecord(jti: jti, clientID: row.text(0) ?? "", codeHash: row.text(1), expiresAt: Int(row.int(2)),
                                           revoked: !row.isNull(3), payload: payload)
            }
            return record
        }
    }

    public func revokeToken(jti: String) throws(StoreError) {
        try locked { (db) throws(StoreError) in
            try db.query("UPDATE tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL",
                         [.int(Int(Date().timeIntervalSince1970)), .text(jti)])
        }
    }

    // MARK: sessions

    public func saveSession(_ r: SessionRecord) throws(StoreError) {
        try locked { (db) throws(StoreError) in try Self.insert(r, into: db) }
    }

    private static func insert(_ r: SessionRecord, into db: SQLiteConnection) throws(StoreError) {
        let data: JSONValue = ["subject": r.subject.jsonValue]
        try db.query("""
            INSERT OR REPLACE INTO sessions (id_hash, sid, thumbprint, auth_time, created_at, last_seen, idle_expires_at,
            absolute_expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(r.idHash), .text(r.sid), .text(r.thumbprint), .int(r.authTime), .int(r.createdAt), .int(r.lastSeen),
                  .int(r.idleExpiresAt), .int(r.absoluteExpiresAt), .text(data.text)])
    }

    public func session(idHash: String) throws(StoreError) -> SessionRecord? {
        try locked { (db) throws(StoreError) -> SessionRecord? in
            var record: SessionRecord?
            try db.query("""
                SELECT sid, thumbprint, auth_time, created_at, last_seen, idle_expires_at, absolute_expires_at, data
                FROM sessions WHERE id_hash = ?
                """, [.text(idHash)]) { row in
                guard let data = JSONValue.decode(Array((row.text(7) ?? "").utf8)),
                      let subject = data["subject"].flatMap(LoginSubject.init(jsonValue:)) else { return }
                record = SessionRecord(idHash: idHash, sid: row.text(0) ?? "", thumbprint: row.text(1) ?? "", subject: subject,
                                       authTime: Int(row.int(2)), createdAt: Int(row.int(3)), lastSeen: Int(row.int(4)),
                                       idleExpiresAt: Int(row.int(5)), absoluteExpiresAt: Int(row.int(6)))
            }
            return record
        }
    }

    public func touchSession(idHash: String, lastSeen: Int, idleExpiresAt: Int) throws(StoreError) {
        try locked { (db) throws(StoreError) in try Self.touchSession(idHash: idHash, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt, in: db) }
    }

    private static func touchSession(idHash: String, lastSeen: Int, idleExpiresAt: Int, in db: SQLiteConnection) throws(StoreError) {
        try db.query("UPDATE sessions SET last_seen = ?, idle_expires_at = ? WHERE id_hash = ?",
                     [.int(lastSeen), .int(idleExpiresAt), .text(idHash)])
    }

    public func deleteSession(idHash: String) throws(StoreError) {
        try locked { (db) throws(StoreError) in try Self.deleteSession(idHash: idHash, in: db) }
    }

    private static func deleteSession(idHash: String, in db: SQLiteConnection) throws(StoreError) {
        try db.query("DELETE FROM sessions WHERE id_hash = ?", [.text(idHash)])
    }

    public func deleteSessions(sid: String) throws(StoreError) {
        try locked { (db) throws(StoreError) in try db.query("DELETE FROM sessions WHERE sid = ?", [.text(sid)]) }
    }

    // MARK: client assertions

    public func useAssertion(key: String, expiresAt: Int, now: Int) throws(StoreError) -> Bool {
        try locked { (db) throws(StoreError) -> Bool in
            try db.transaction { () throws(StoreError) -> Bool in
                try db.query("DELETE FROM assertions WHERE key = ? AND expires_at <= ?", [.text(key), .int(now)])
                try db.query("INSERT OR IGNORE INTO assertions (key, expires_at) VALUES (?, ?)", [.text(key), .int(expiresAt)])
                return db.changes == 1
            }
        }
    }

    // MARK: audit

    public func appendAudit(_ r: AuditRecord) throws(StoreError) {
        let ticket = try locked { (db) throws(StoreError) -> UInt64 in
            try Self.insert(r, into: db)
            return walSync.ticket()
        }
        // On disk when this returns, and with it everything written before; concurrent
        // requests share the fsync (group commit), outside the lock.
        try walSync.sync(through: ticket)
    }

    private static func insert(_ r: AuditRecord, into db: SQLiteConnection) throws(StoreError) {
        try db.query("""
            INSERT INTO audit (time_ms, event, client_address, client_id, reason, cf, cert_serial, cert_issuer, repeated, via, proxy_address,
                               card_kind)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.int(r.time), .text(r.event), .text(r.clientAddress), .text(r.clientID), .text(r.reason),
                  .optional(r.codiceFiscale), .optional(r.certificateSerial), .optional(r.certificateIssuer), .optional(r.repeated),
                  .optional(r.via), .optional(r.proxyAddress), .optional(r.cardKind)])
    }

    /// One transaction and one (shared) fsync for the whole end of a login.
    public func completeLogin(_ session: SessionWrite, code: AuthorizationCodeRecord, audit: AuditRecord) throws(StoreError) {
        let ticket = try locked { (db) throws(StoreError) -> UInt64 in
            try db.transaction { () throws(StoreError) in
                switch session {
                case .touch(let idHash, let lastSeen, let idleExpiresAt):
                    try Self.touchSession(idHash: idHash, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt, in: db)
                case .create(let record, let replacing):
                    if let replacing { try Self.deleteSession(idHash: replacing, in: db) }
                    try Self.insert(record, into: db)
                }
                try Self.insert(code, into: db)
                try Self.insert(audit, into: db)
            }
            return walSync.ticket()
        }
        try walSync.sync(through: ticket)
    }

    public func audit(_ filter: AuditFilter) throws(StoreError) -> [AuditRecord] {
        var sql = "SELECT id, time_ms, event, client_address, client_id, reason, cf, cert_serial, cert_issuer, repeated, via, proxy_address, card_kind"
            + " FROM audit WHERE 1 = 1"
        var parameters: [SQLValue] = []
        if let since = filter.since { sql += " AND time_ms >= ?"; parameters.append(.int(since)) }
        if let reason = filter.reason { sql += " AND reason = ?"; parameters.append(.text(reason)) }
        if let cf = filter.codiceFiscale { sql += " AND cf = ?"; parameters.append(.text(cf)) }
        sql += " ORDER BY id LIMIT ?"
        parameters.append(.int(filter.limit))
        return try locked { (db) throws(StoreError) -> [AuditRecord] in
            var records: [AuditRecord] = []
            try db.query(sql, parameters) { row in
                records.append(AuditRecord(id: row.int(0), time: row.int(1), clientAddress: row.text(3) ?? "", clientID: row.text(4) ?? "",
                                           reason: row.text(5) ?? "", codiceFiscale: row.text(6), certificateSerial: row.text(7),
                                           certificateIssuer: row.text(8), event: row.text(2) ?? "",
                                           repeated: row.isNull(9) ? nil : Int(row.int(9)), via: row.text(10), proxyAddress: row.text(11),
                                           cardKind: row.text(12)))
            }
            return records
        }
    }

    // MARK: purge

    /// Codes stay this long past expiry so a late second use is still recognised and revokes.
    static let codeReplayWindow = 600

    public func purgeExpired(now: Int, auditBefore: Int64?) throws(StoreError) -> Int {
        try locked { (db) throws(StoreError) -> Int in
            try db.transaction { () throws(StoreError) -> Int in
                var removed = 0
                if let auditBefore {
                    // `[audit] retention_days`, a batch at a time (by the time index).
                    try db.query("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time_ms < ? ORDER BY time_ms LIMIT ?)",
                                 [.int(auditBefore), .int(auditPurgeBatch)])
                    removed += db.changes
                }
                try db.query("DELETE FROM codes WHERE expires_at + ? <= ?", [.int(Self.codeReplayWindow), .int(now)])
                removed += db.changes
                try db.query("DELETE FROM tokens WHERE expires_at <= ?", [.int(now)])
                removed += db.changes
                try db.query("DELETE FROM sessions WHERE idle_expires_at <= ? OR absolute_expires_at <= ?", [.int(now), .int(now)])
                removed += db.changes
                try db.query("DELETE FROM assertions WHERE expires_at <= ?", [.int(now)])
                removed += db.changes
                return removed
            }
        }
    }
}
