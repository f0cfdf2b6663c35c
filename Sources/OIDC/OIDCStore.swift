public import JSON

/// A one-time authorization code as stored (by its hash, never the code itself).
public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var codeHash: String
    public var clientID: String
    public var redirectURI: String
    public var scopes: [String]
    public var nonce: String?
    /// S256 challenge; nil when the client sent none (confidential clients only).
    public var codeChallenge: String?
    public var authTime: Int
    public var sid: String
    public var subject: LoginSubject
    public var acr: String
    public var issuedAt: Int
    public var expiresAt: Int

    public init(codeHash: String, clientID: String, redirectURI: String, scopes: [String], nonce: String?, codeChallenge: String?,
                authTime: Int, sid: String, subject: LoginSubject, acr: String, issuedAt: Int, expiresAt: Int) {
        self.codeHash = codeHash
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.scopes = scopes
        self.nonce = nonce
        self.codeChallenge = codeChallenge
        self.authTime = authTime
        self.sid = sid
        self.subject = subject
        self.acr = acr
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// Everything but the indexed columns, for the store's `data` column.
    public var payload: JSONValue {
        var o: [String: JSONValue] = [
            "redirect_uri": .string(redirectURI), "scopes": .array(scopes.map(JSONValue.string)), "auth_time": .int(authTime),
            "sid": .string(sid), "subject": subject.jsonValue, "acr": .string(acr), "iat": .int(issuedAt),
        ]
        if let nonce { o["nonce"] = .string(nonce) }
        if let codeChallenge { o["code_challenge"] = .string(codeChallenge) }
        return .object(o)
    }

    public init?(codeHash: String, clientID: String, expiresAt: Int, payload: JSONValue) {
        guard let redirect = payload["redirect_uri"]?.stringValue, let scopes = payload["scopes"]?.arrayValue,
              let authTime = payload["auth_time"]?.intValue, let sid = payload["sid"]?.stringValue,
              let subject = payload["subject"].flatMap(LoginSubject.init(jsonValue:)), let acr = payload["acr"]?.stringValue,
              let iat = payload["iat"]?.intValue else { return nil }
        self.init(codeHash: codeHash, clientID: clientID, redirectURI: redirect, scopes: scopes.compactMap(\.stringValue),
                  nonce: payload["nonce"]?.stringValue, codeChallenge: payload["code_challenge"]?.stringValue,
                  authTime: authTime, sid: sid, subject: subject, acr: acr, issuedAt: iat, expiresAt: expiresAt)
    }
}

/// The outcome of presenting a code at the token endpoint.
public enum CodeRedemption: Sendable, Equatable {
    /// First use: the code is now spent.
    case redeemed(AuthorizationCodeRecord)
    /// Second use (RFC 6749 section 4.1.2): refused, and every token the first use issued is revoked.
    case replayed(clientID: String, revokedTokens: Int)
    /// The presenter is not the one the code was issued to (client, redirect URI, PKCE
    /// verifier): refused, and the code is left as it was, so whoever holds a leaked code
    /// cannot burn it (nor, once used, revoke the tokens it gave).
    case refused(reason: String)
    case expired
    case unknown
}

/// An access token the provider issued (by its `jti`), with what `/userinfo` releases for it.
public struct IssuedTokenRecord: Sendable, Equatable {
    public var jti: String
    public var clientID: String
    public var codeHash: String?
    public var sub: String
    public var scopes: [String]
    public var subject: LoginSubject
    public var issuedAt: Int
    public var expiresAt: Int
    public var revoked: Bool

    public init(jti: String, clientID: String, codeHash: String?, sub: String, scopes: [String], subject: LoginSubject,
                issuedAt: Int, expiresAt: Int, revoked: Bool = false) {
        self.jti = jti
        self.clientID = clientID
        self.codeHash = codeHash
        self.sub = sub
        self.scopes = scopes
        self.subject = subject
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.revoked = revoked
    }

    public var payload: JSONValue {
        ["sub": .string(sub), "scopes": .array(scopes.map(JSONValue.string)), "subject": subject.jsonValue, "iat": .int(issuedAt)]
    }

    public init?(jti: String, clientID: String, codeHash: String?, expiresAt: Int, revoked: Bool, payload: JSONValue) {
        guard let sub = payload["sub"]?.stringValue, let scopes = payload["scopes"]?.arrayValue,
              let subject = payload["subject"].flatMap(LoginSubject.init(jsonValue:)), let iat = payload["iat"]?.intValue else { return nil }
        self.init(jti: jti, clientID: clientID, codeHash: codeHash, sub: sub, scopes: scopes.compactMap(\.stringValue),
                  subject: subject, issuedAt: iat, expiresAt: expiresAt, revoked: revoked)
    }
}

/// A single sign-on session: one browser (its `__Host-` cookie, stored hashed), one card.
public struct SessionRecord: Sendable, Equatable {
    public var idHash: String
    /// The session id published in ID tokens (`sid`), distinct from the cookie value.
    public var sid: String
    public var thumbprint: String
    public var subject: LoginSubject
    public var authTime: Int
    public var createdAt: Int
    public var lastSeen: Int
    public var idleExpiresAt: Int
    public var absoluteExpiresAt: Int

    public init(idHash: String, sid: String, thumbprint: String, subject: LoginSubject, authTime: Int, createdAt: Int,
                lastSeen: Int, idleExpiresAt: Int, absoluteExpiresAt: Int) {
        self.idHash = idHash
        self.sid = sid
        self.thumbprint = thumbprint
        self.subject = subject
        self.authTime = authTime
        self.createdAt = createdAt
        self.lastSeen = lastSeen
        self.idleExpiresAt = idleExpiresAt
        self.absoluteExpiresAt = absoluteExpiresAt
    }

    public func isValid(now: Int) -> Bool { now < idleExpiresAt && now < absoluteExpiresAt }
}

/// One line of the audit trail: every login attempt, success or failure.
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64?
    /// Unix milliseconds.
    public var time: Int64
    public var clientAddress: String
    /// The service (client id); empty when the request named no known client.
    public var clientID: String
    /// "ok" or the reason code of the failure.
    public var reason: String
    public var codiceFiscale: String?
    public var certificateSerial: String?
    public var certificateIssuer: String?
    public var event: String
    /// A summary (`AuditThrottle`): this many records of `event` and `reason` were not written
    /// one by one in the window that ended at `time`. Nil for a record of one attempt.
    public var repeated: Int?
    /// How the card reached the gateway ("handshake", "forwarded"); nil where no card was read.
    public var via: String?
    /// The reverse proxy that forwarded the card (its address), when `via` is "forwarded".
    public var proxyAddress: String?
    /// `cns` or `cie`: the card presented, accepted or not; nil when none was recognised.
    public var cardKind: String?

    public init(id: Int64? = nil, time: Int64, clientAddress: String, clientID: String, reason: String, codiceFiscale: String? = nil,
                certificateSerial: String? = nil, certificateIssuer: String? = nil, event: String = "login", repeated: Int? = nil,
                via: String? = nil, proxyAddress: String? = nil, cardKind: String? = nil) {
        self.cardKind = cardKind
        self.id = id
        self.time = time
        self.clientAddress = clientAddress
        self.clientID = clientID
        self.reason = reason
        self.codiceFiscale = codiceFiscale
        self.certificateSerial = certificateSerial
        self.certificateIssuer = certificateIssuer
        self.event = event
        self.repeated = repeated
        self.via = via
        self.proxyAddress = proxyAddress
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "time_ms": .int(Int(time)), "client_address": .string(clientAddress), "client_id": .string(clientID),
            "reason": .string(reason), "event": .string(event),
        ]
        if let id { o["id"] = .int(Int(id)) }
        if let codiceFiscale { o["cf"] = .string(codiceFiscale) }
        if let certificateSerial { o["certificate_serial"] = .string(certificateSerial) }
        if let certificateIssuer { o["certificate_issuer"] = .string(certificateIssuer) }
        if let repeated { o["repeated"] = .int(repeated) }
        if let via { o["via"] = .string(via) }
        if let proxyAddress { o["proxy_address"] = .string(proxyAddress) }
        if let cardKind { o["card_kind"] = .string(cardKind) }
        return .object(o)
    }
}

public struct AuditFilter: Sendable {
    /// Unix milliseconds, inclusive.
    public var since: Int64?
    public var reason: String?
    public var codiceFiscale: String?
    public var limit: Int

    public init(since: Int64? = nil, reason: String? = nil, codiceFiscale: String? = nil, limit: Int = 10_000) {
        self.since = since
        self.reason = reason
        self.codiceFiscale = codiceFiscale
        self.limit = limit
    }

    public func matches(_ record: AuditRecord) -> Bool {
        if let since, record.time < since { return false }
        if let reason, record.reason != reason { return false }
        if let codiceFiscale, record.codiceFiscale != codiceFiscale { return false }
        return true
    }
}

public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    public var reason: String
    public init(code: Int32, reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "store error \(code): \(reason)" }
}

/// What the provider persists. Implementations are safe to call from several threads at once;
/// each method is atomic (one transaction).
public protocol OIDCStore: Sendable {
    func saveCode(_ record: AuthorizationCodeRecord) throws(StoreError)
    /// In one transaction: finds the code, asks `check` whether the presenter may have it (nil:
    /// yes; else the reason code, and nothing changes), then spends it and returns it; a second
    /// presentation that passes `check` revokes the tokens of the first. `check` is pure and
    /// quick: it runs while the code's row is locked.
    func redeemCode(hash: String, now: Int, check: (AuthorizationCodeRecord) -> String?) throws(StoreError) -> CodeRedemption
    /// False (and nothing saved) when the token's code was replayed in the meantime.
    func saveToken(_ record: IssuedTokenRecord) throws(StoreError) -> Bool
    func token(jti: String) throws(StoreError) -> IssuedTokenRecord?
    func revokeToken(jti: String) throws(StoreError)

    func saveSession(_ record: SessionRecord) throws(StoreError)
    func session(idHash: String) throws(StoreError) -> SessionRecord?
    func touchSession(idHash: String, lastSeen: Int, idleExpiresAt: Int) throws(StoreError)
    func deleteSession(idHash: String) throws(StoreError)
    func deleteSessions(sid: String) throws(StoreError)

    /// Records a client assertion's `jti` until it expires; false when it was seen before (replay).
    func useAssertion(key: String, expiresAt: Int, now: Int) throws(StoreError) -> Bool

    /// Durable before it returns.
    func appendAudit(_ record: AuditRecord) throws(StoreError)
    func audit(_ filter: AuditFilter) throws(StoreError) -> [AuditRecord]

    /// The end of a successful card login: the SSO session written, the code saved and the
    /// audit record appended, all durable when it returns. A store may do it in one
    /// transaction; the default makes the three calls in that order.
    func completeLogin(_ session: SessionWrite, code: AuthorizationCodeRecord, audit: AuditRecord) throws(StoreError)

    /// Deletes expired codes, tokens, sessions and assertion ids, and audit records older than
    /// `auditBefore` (Unix ms; nil keeps them all), a bounded batch of those per call so one
    /// purge never holds the store for long; returns how many rows went.
    @discardableResult
    func purgeExpired(now: Int, auditBefore: Int64?) throws(StoreError) -> Int
}

/// What a login does to the citizen's SSO session.
public enum SessionWrite: Sendable {
    /// The session goes on: its idle expiry moves.
    case touch(idHash: String, lastSeen: Int, idleExpiresAt: Int)
    /// A new session, replacing the one the browser brought (if any).
    case create(SessionRecord, replacing: String?)
}

/// How many audit records one purge deletes at most: a first purge after `retention_days` is set
/// on a large trail proceeds a batch a minute instead of locking the store for seconds.
public let auditPurgeBatch = 10_000

extension OIDCStore {
    /// Expired rows only; the audit trail stays whole.
    @discardableResult
    public func purgeExpired(now: Int) throws(StoreError) -> Int { try purgeExpired(now: now, auditBefore: nil) }

    /// Spends the code whoever presents it (tools and tests).
    public func redeemCode(hash: String, now: Int) throws(StoreError) -> CodeRedemption {
        try redeemCode(hash: hash, now: now) { _ in nil }
    }

    public func completeLogin(_ session: SessionWrite, code: AuthorizationCodeRecord, audit: AuditRecord) throws(StoreError) {
        switch session {
        case .touch(let idHash, let lastSeen, let idleExpiresAt):
            try touchSession(idHash: idHash, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt)
        case .create(let record, let replacing):
            if let replacing { try deleteSession(idHash: replacing) }
            try saveSession(record)
        }
        try saveCode(code)
        try appendAudit(audit)
    }
}
