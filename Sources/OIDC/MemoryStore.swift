import Synchronization

/// An `OIDCStore` in memory, for tests and tools. Same semantics as the SQLite store.
public final class MemoryStore: OIDCStore {
    private struct State {
        var codes: [String: (record: AuthorizationCodeRecord, used: Bool, replayed: Bool)] = [:]
        var tokens: [String: IssuedTokenRecord] = [:]
        var sessions: [String: SessionRecord] = [:]
        var assertions: [String: Int] = [:]
        var audit: [AuditRecord] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Kept after expiry so a late replay is still recognised (and revokes); purged after this.
    static let codeReplayWindow = 600

    public func saveCode(_ record: AuthorizationCodeRecord) throws(StoreError) {
        state.withLock { $0.codes[record.codeHash] = (record, false, false) }
    }

    public func redeemCode(hash: String, now: Int, check: (AuthorizationCodeRecord) -> String?) throws(StoreError) -> CodeRedemption {
        state.withLock { s in
            guard let entry = s.codes[hash] else { return .unknown }
            if let reason = check(entry.record) { return .refused(reason: reason) }
            if entry.used {
                s.codes[hash]?.replayed = true
                var revoked = 0
                for (jti, token) in s.tokens where token.codeHash == hash && !token.revoked {
                    s.tokens[jti]?.revoked = true
                    revoked += 1
                }
                return .replayed(clientID: entry.record.clientID, revokedTokens: revoked)
            }
            if now >= entry.record.expiresAt { return .expired }
            s.codes[hash]?.used = true
            return .redeemed(entry.record)
        }
    }

    public func saveToken(_ record: IssuedTokenRecord) throws(StoreError) -> Bool {
        state.withLock { s in
            if let code = record.codeHash, s.codes[code]?.replayed == true { return false }
            s.tokens[record.jti] = record
            return true
        }
    }

    public func token(jti: String) throws(StoreError) -> IssuedTokenRecord? { state.withLock { $0.tokens[jti] } }

    public func revokeToken(jti: String) throws(StoreError) { state.withLock { _ = $0.tokens[jti]?.revoked = true } }

    public func saveSession(_ record: SessionRecord) throws(StoreError) { state.withLock { $0.sessions[record.idHash] = record } }

    public func session(idHash: String) throws(StoreError) -> SessionRecord? { state.withLock { $0.sessions[idHash] } }

    public func touchSession(idHash: String, lastSeen: Int, idleExpiresAt: Int) throws(StoreError) {
        state.withLock { s in
            s.sessions[idHash]?.lastSeen = lastSeen
            s.sessions[idHash]?.idleExpiresAt = idleExpiresAt
        }
    }

    public func deleteSession(idHash: String) throws(StoreError) { state.withLock { _ = $0.sessions.removeValue(forKey: idHash) } }

    public func deleteSessions(sid: String) throws(StoreError) {
        state.withLock { s in s.sessions = s.sessions.filter { $0.value.sid != sid } }
    }

    public func useAssertion(key: String, expiresAt: Int, now: Int) throws(StoreError) -> Bool {
        state.withLock { s in
            if let until = s.assertions[key], until > now { return false }
            s.assertions[key] = expiresAt
            return true
        }
    }

    public func appendAudit(_ record: AuditRecord) throws(StoreError) {
        state.withLock { s in
            var r = record
            r.id = Int64(s.audit.count + 1)
            s.audit.append(r)
        }
    }

    public func audit(_ filter: AuditFilter) throws(StoreError) -> [AuditRecord] {
        state.withLock { s in Array(s.audit.filter(filter.matches).prefix(filter.limit)) }
    }

    public func purgeExpired(now: Int, auditBefore: Int64?) throws(StoreError) -> Int {
        state.withLock { s in
            let before = s.codes.count + s.tokens.count + s.sessions.count + s.assertions.count + s.audit.count
            s.codes = s.codes.filter { $0.value.record.expiresAt + Self.codeReplayWindow > now }
            s.tokens = s.tokens.filter { $0.value.expiresAt > now }
            s.sessions = s.sessions.filter { $0.value.isValid(now: now) }
            s.assertions = s.assertions.filter { $0.value > now }
            if let auditBefore {
                var deleted = 0
                s.audit.removeAll { record in
                    guard record.time < auditBefore, deleted < auditPurgeBatch else { return false }
                    deleted += 1
                    return true
                }
            }
            return before - (s.codes.count + s.tokens.count + s.sessions.count + s.assertions.count + s.audit.count)
        }
    }
}
