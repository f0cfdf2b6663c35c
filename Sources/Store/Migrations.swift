import OIDC

/// The schema, one step per version, shared by both backends. Steps are only ever appended:
/// a deployed database is at some step and moves forward from there. The two dialects differ
/// only where written as a placeholder: `{int}` (64-bit integer) and `{serial}` (an
/// auto-incremented 64-bit key).
enum Migrations {
    enum Dialect {
        case sqlite, postgres

        func render(_ template: String) -> String {
            switch self {
            case .sqlite:
                template.replacing("{int}", with: "INTEGER")
                    .replacing("{serial}", with: "INTEGER PRIMARY KEY AUTOINCREMENT")
            case .postgres:
                template.replacing("{int}", with: "BIGINT")
                    .replacing("{serial}", with: "BIGSERIAL PRIMARY KEY")
            }
        }
    }

    static let templates: [String] = [
        // 1: codes, tokens, sessions, client assertion ids, audit trail.
        """
        CREATE TABLE codes (
            code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at {int} NOT NULL,
            used_at {int}, replayed_at {int}, data TEXT NOT NULL);
        CREATE INDEX codes_expiry ON codes(expires_at);
        CREATE TABLE tokens (
            jti TEXT PRIMARY KEY, client_id TEXT NOT NULL, code_hash TEXT, expires_at {int} NOT NULL,
            revoked_at {int}, data TEXT NOT NULL);
        CREATE INDEX tokens_code ON tokens(code_hash);
        CREATE INDEX tokens_expiry ON tokens(expires_at);
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY, sid TEXT NOT NULL, thumbprint TEXT NOT NULL, auth_time {int} NOT NULL,
            created_at {int} NOT NULL, last_seen {int} NOT NULL, idle_expires_at {int} NOT NULL,
            absolute_expires_at {int} NOT NULL, data TEXT NOT NULL);
        CREATE INDEX sessions_sid ON sessions(sid);
        CREATE TABLE assertions (key TEXT PRIMARY KEY, expires_at {int} NOT NULL);
        CREATE TABLE audit (
            id {serial}, time_ms {int} NOT NULL, event TEXT NOT NULL,
            client_address TEXT NOT NULL, client_id TEXT NOT NULL, reason TEXT NOT NULL,
            cf TEXT, cert_serial TEXT, cert_issuer TEXT);
        CREATE INDEX audit_time ON audit(time_ms);
        CREATE INDEX audit_cf ON audit(cf);
        """,
        // 2: the provider's signing keys and pairwise salt, shared by every instance (used by the
        // PostgreSQL store; sealed with the local key-encryption key).
        """
        CREATE TABLE provider_secrets (
            id {int} PRIMARY KEY, version {int} NOT NULL, updated_at {int} NOT NULL, kek_id TEXT NOT NULL, sealed TEXT NOT NULL);
        """,
        // 3: summary rows of the audit trail: how many records of one event and reason were
        // counted instead of written (AuditThrottle). NULL on the record of one attempt.
        """
        ALTER TABLE audit ADD COLUMN repeated {int};
        """,
        // 4: how the card reached the gateway: "handshake", or "forwarded" by the reverse proxy
        // at proxy_address (issue 16). NULL for records older than this step, and where no
        // card was read (the back channel).
        """
        ALTER TABLE audit ADD COLUMN via TEXT;
        ALTER TABLE audit ADD COLUMN proxy_address TEXT;
        """,
        // 5: the card an audited attempt was made with (`cns`, `cie`); NULL for rows written
        // before (all of them CNS logins or no card) and for attempts with no card recognised.
        """
        ALTER TABLE audit ADD COLUMN card_kind TEXT;
        """,
    ]

    static func steps(_ dialect: Dialect) -> [String] { templates.map(dialect.render) }

    static var latest: Int { templates.count }

    static func apply(to connection: SQLiteConnection) throws(StoreError) {
        let current = connection.userVersion
        guard current <= latest else {
            throw StoreError(code: -1, reason: "\(connection.path): schema version \(current) is newer than this gateway (\(latest))")
        }
        let steps = steps(.sqlite)
        for version in current..<latest {
            try connection.transaction { () throws(StoreError) in
                // Another process may have migrated while we waited for the write lock.
                guard connection.userVersion == version else { return }
                try connection.execute(steps[version])
                try connection.execute("PRAGMA user_version = \(version + 1)")
            }
        }
    }

    /// Any 64-bit number both sides agree on: the advisory lock that serializes instances
    /// starting at once (only one runs the steps; the others wait, then see them done).
    static let advisoryLockKey: Int64 = 0x636E_735F_6777_0001

    static func apply(to connection: PostgresConnection) throws(StoreError) {
        try connection.query("SELECT pg_advisory_lock($1)", [.int(advisoryLockKey)])
        defer { if !connection.isBroken { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [.int(advisoryLockKey)]) } }
        try connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        let rows = try connection.query("SELECT version FROM schema_version")
        let current: Int
        if let text = rows.first?[0], let value = Int(text) {
            current = value
        } else {
            try connection.query("INSERT INTO schema_version (version) VALUES (0)")
            current = 0
        }
        guard current <= latest else {
            throw StoreError(code: -1, reason: "schema version \(current) is newer than this gateway (\(latest))")
        }
        let steps = steps(.postgres)
        for version in current..<latest {
            try connection.transaction { () throws(StoreError) in
                try connection.execute(steps[version])
                try connection.query("UPDATE schema_version SET version = $1", [.int(version + 1)])
            }
        }
    }
}
