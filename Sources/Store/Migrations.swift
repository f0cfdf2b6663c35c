import OIDC

/// The schema, one step per version. Steps are only ever appended: a deployed database
/// is at some step and moves forward from there.
enum Migrations {
    static let steps: [String] = [
        // 1: codes, tokens, sessions, client assertion ids, audit trail.
        """
        CREATE TABLE codes (
            code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
            used_at INTEGER, replayed_at INTEGER, data TEXT NOT NULL);
        CREATE INDEX codes_expiry ON codes(expires_at);
        CREATE TABLE tokens (
            jti TEXT PRIMARY KEY, client_id TEXT NOT NULL, code_hash TEXT, expires_at INTEGER NOT NULL,
            revoked_at INTEGER, data TEXT NOT NULL);
        CREATE INDEX tokens_code ON tokens(code_hash);
        CREATE INDEX tokens_expiry ON tokens(expires_at);
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY, sid TEXT NOT NULL, thumbprint TEXT NOT NULL, auth_time INTEGER NOT NULL,
            created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, idle_expires_at INTEGER NOT NULL,
            absolute_expires_at INTEGER NOT NULL, data TEXT NOT NULL);
        CREATE INDEX sessions_sid ON sessions(sid);
        CREATE TABLE assertions (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, event TEXT NOT NULL,
            client_address TEXT NOT NULL, client_id TEXT NOT NULL, reason TEXT NOT NULL,
            cf TEXT, cert_serial TEXT, cert_issuer TEXT);
        CREATE INDEX audit_time ON audit(time_ms);
        CREATE INDEX audit_cf ON audit(cf);
        """,
    ]

    static var latest: Int { steps.count }

    static func apply(to connection: SQLiteConnection) throws(StoreError) {
        let current = connection.userVersion
        guard current <= latest else {
            throw StoreError(code: -1, reason: "\(connection.path): schema version \(current) is newer than this gateway (\(latest))")
        }
        for version in current..<latest {
            try connection.transaction { () throws(StoreError) in
                // Another process may have migrated while we waited for the write lock.
                guard connection.userVersion == version else { return }
                try connection.execute(steps[version])
                try connection.execute("PRAGMA user_version = \(version + 1)")
            }
        }
    }
}
