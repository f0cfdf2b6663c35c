public import HTTP1
public import CNS
public import FoundationEssentials
import Crypto
import Synchronization

/// What the gateway knows about the card on the connection a request came on.
public struct CardLogin: Sendable {
    /// "ok" or the reason code of the failure (`no_certificate`, `expired`, ...).
    public var reason: String
    public var subject: LoginSubject?
    /// From the presented certificate even when it was refused (for the audit trail).
    public var certificateSerial: String?
    public var certificateIssuer: String?
    /// When the card signed the connection's TLS handshake; nil when the caller cannot tell
    /// (then the card counts as having signed just now).
    public var handshakeAt: Date?
    /// How the card reached the gateway, for the audit trail: "handshake", or "forwarded" by
    /// the reverse proxy at `proxyAddress`.
    public var via: String?
    public var proxyAddress: String?
    /// The card the certificate was recognised as, also when it was refused (for the page and
    /// the audit trail); nil when the profile could not tell.
    public var cardKind: CardKind?

    public init(reason: String, subject: LoginSubject?, certificateSerial: String? = nil, certificateIssuer: String? = nil,
                handshakeAt: Date? = nil, via: String? = nil, proxyAddress: String? = nil, cardKind: CardKind? = nil) {
        self.reason = reason
        self.subject = subject
        self.certificateSerial = certificateSerial ?? subject?.certificateSerial
        self.certificateIssuer = certificateIssuer ?? subject?.certificateIssuer
        self.handshakeAt = handshakeAt
        self.via = via
        self.proxyAddress = proxyAddress
        self.cardKind = cardKind ?? subject?.cardKind
    }

    public var accepted: Bool { reason == "ok" && subject != nil }
}

/// The request's connection facts, as the provider needs them.
public struct ProviderRequestInfo {
    /// True on the listener that asks for the card in its handshake.
    public var requestsClientCertificate: Bool
    public var clientAddress: String
    public var cookieHeader: String?
    /// Lowercase hex SHA-256 of the client certificate presented on this connection (whatever
    /// its verdict: the TLS handshake proved possession of its key), nil when none was. What a
    /// certificate-bound access token is compared with (RFC 8705 section 3).
    public var clientCertificateThumbprint: String?
    /// The connection's card, for the requests that `Provider.needsCard` names; nil otherwise.
    public var card: CardLogin?

    public init(requestsClientCertificate: Bool, clientAddress: String, cookieHeader: String?, clientCertificateThumbprint: String? = nil,
                card: CardLogin?) {
        self.requestsClientCertificate = requestsClientCertificate
        self.clientAddress = clientAddress
        self.cookieHeader = cookieHeader
        self.clientCertificateThumbprint = clientCertificateThumbprint.map { $0.lowercased() }
        self.card = card
    }
}

/// The OpenID Connect provider: every endpoint as a function from a request to an outcome,
/// over a store and a key set. No sockets, no files: the gateway supplies both.
public final class Provider: Sendable {
    public let configuration: ProviderConfiguration
    /// Every endpoint's full path (the issuer's path, then the endpoint's): the router asks `isEndpoint` for every request, so the
    /// answer is one hash lookup, without building a string.
    private let endpointsByPath: [String: Endpoint]
    /// The signing keys now: a fixed set, or (shared store) the set other instances may rotate.
    public var keys: KeySet { keySource() }
    let keySource: @Sendable () -> KeySet
    public let store: any OIDCStore
    /// Secret input of pairwise subjects (OIDC Core section 8.1).
    let pairwiseSalt: [UInt8]
    let now: @Sendable () -> Date
    let log: @Sendable (_ event: String, _ fields: [String: String]) -> Void
    let secrets = SecretVerifier()
    /// Failed client authentications per source and client id (Provider+ClientAuth.swift).
    public let clientAuthLimiter: ClientAuthLimiter
    /// The audit of failures nobody authenticated for, sampled and counted (`audit(_:durable:)`).
    public let auditThrottle: AuditThrottle
    let lastPurge = Atomic<Int>(0)

    public static let sessionCookie = "__Host-cns_session"

    public convenience init(configuration: ProviderConfiguration, keys: KeySet, store: any OIDCStore, pairwiseSalt: [UInt8],
                            now: @escaping @Sendable () -> Date = { Date() },
                            log: @escaping @Sendable (_ event: String, _ fields: [String: String]) -> Void = { _, _ in }) {
        self.init(configuration: configuration, keySource: { keys }, store: store, pairwiseSalt: pairwiseSalt, now: now, log: log)
    }

    /// `keySource` is called on every use of the keys (JWKS, signing, verifying): it must be
    /// cheap (a cached set), and must not block for long. `clientAuthLimiter` is shared by the
    /// providers of successive generations, so a reload does not forgive a flood; by default
    /// a new one with `configuration.clientAuthLimits`.
    public init(configuration: ProviderConfiguration, keySource: @escaping @Sendable () -> KeySet, store: any OIDCStore,
                pairwiseSalt: [UInt8], now: @escaping @Sendable () -> Date = { Date() },
                clientAuthLimiter: ClientAuthLimiter? = nil, auditThrottle: AuditThrottle? = nil,
                log: @escaping @Sendable (_ event: String, _ fields: [String: String]) -> Void = { _, _ in }) {
        self.configuration = configuration
        self.clientAuthLimiter = clientAuthLimiter ?? ClientAuthLimiter(settings: configuration.clientAuthLimits)
        self.auditThrottle = auditThrottle ?? AuditThrottle(settings: configuration.auditThrottle)
        let prefix = configuration.pathPrefix
        self.endpointsByPath = Dictionary(uniqueKeysWithValues: Endpoint.allCases.map { (prefix + $0.rawValue, $0) })
        self.keySource = keySource
        self.store = store
        self.pairwiseSalt = pairwiseSalt
        self.now = now
        self.log = log
    }

    var clock: Int { Int(now().timeIntervalSince1970) }

    // MARK: routing

    public enum Endpoint: String, CaseIterable, Sendable {
        case discovery = "/.well-known/openid-configuration"
        case jwks = "/jwks"
        case authorize = "/authorize"
        case token = "/token"
        case userinfo = "/userinfo"
        case logout = "/logout"
        case introspect = "/introspect"
        case revoke = "/revoke"
    }

    public func url(_ endpoint: Endpoint) -> String { configuration.issuer + endpoint.rawValue }

    /// True when `path` is one of the provider's endpoints (a cheap check for the router).
    public func isEndpoint(_ path: String) -> Bool { endpoint(for: path) != nil }

    /// True when answering a request for `path` reads the card: `/authorize` on the listener
    /// that asks for it (a login). Nothing else does, so the card is judged, logged and counted
    /// only for logins, never for the back channel.
    public func needsCard(_ path: String, requestsClientCertificate: Bool) -> Bool {
        requestsClientCertificate && endpoint(for: path) == .authorize
    }

    /// True for the endpoints the citizen's browser calls (`/authorize`, `/logout`): the steps of
    /// a login the citizen waits for. The others are called by a relying party's back end.
    public func isFrontChannel(_ path: String) -> Bool {
        let endpoint = endpoint(for: path)
        return endpoint == .authorize || endpoint == .logout
    }

    private func endpoint(for path: String) -> Endpoint? { endpointsByPath[path] }

    /// Nil when `request` is not for an OIDC endpoint.
    public func handle(_ request: HTTPRequest, info: ProviderRequestInfo) -> OIDCOutcome? {
        guard let endpoint = endpoint(for: request.path) else { return nil }
        purgeIfDue()
        let allowed: [String] = switch endpoint {
        case .discovery, .jwks: ["GET", "HEAD"]
        case .authorize, .userinfo, .logout: ["GET", "POST"]
        case .token, .introspect, .revoke: ["POST"]
        }
        guard allowed.contains(request.method) else {
            var response = HTTPResponses.json(status: 405, ["error": "invalid_request", "error_description": "method not allowed"])
            response.headers.append(HTTPHeader(name: "Allow", value: allowed.joined(separator: ", ")))
            return .response(response)
        }
        switch endpoint {
        case .discovery: return .response(HTTPResponses.json(status: 200, discoveryDocument, cacheable: true))
        case .jwks:
            var response = HTTPResponses.json(status: 200, keys.jwks(now: clock), cacheable: true)
            response.headers[0].value = "application/jwk-set+json"
            return .response(response)
        case .authorize: return authorize(request, info: info)
        case .token: return .response(backChannel("token", info) { (draft) throws(OAuthFailure) in try token(request, info: info, audit: draft) })
        case .userinfo:
            return .response(backChannel("userinfo", info) { (draft) throws(OAuthFailure) in try userinfo(request, info: info, audit: draft) })
        case .introspect:
            return .response(backChannel("introspect", info) { (draft) throws(OAuthFailure) in
                try introspect(request, info: info, audit: draft)
            })
        case .revoke:
            return .response(backChannel("revoke", info) { (draft) throws(OAuthFailure) in try revoke(request, info: info, audit: draft) })
        case .logout: return logout(request, info: info)
        }
    }

    /// Runs a back-channel endpoint and leaves one audit record for the call, success or not:
    /// durable when the caller authenticated (client credentials, or a valid access token
    /// presented as it must be), throttled when it did not.
    func backChannel(_ event: String, _ info: ProviderRequestInfo, _ body: (AuditDraft) throws(OAuthFailure) -> HTTPResponse) -> HTTPResponse {
        let draft = AuditDraft()
        let response: HTTPResponse
        do {
            response = try body(draft)
        } catch {
            draft.reason = error.reason
            response = error.response
        }
        record(draft, event: event, info: info)
        return response
    }

    func record(_ draft: AuditDraft, event: String, info: ProviderRequestInfo) {
        do {
            try audit(AuditRecord(time: nowMilliseconds, clientAddress: info.clientAddress, clientID: draft.clientID, reason: draft.reason,
                                  codiceFiscale: draft.subject?.codiceFiscale, certificateSerial: draft.subject?.certificateSerial,
                                  certificateIssuer: draft.subject?.certificateIssuer, event: event,
                                  cardKind: draft.subject?.cardKind.rawValue),
                      durable: draft.reason == "ok" || draft.authenticated)
        } catch {
            log("oidc_store_error", ["operation": "audit", "error": error.description])
        }
    }

    var nowMilliseconds: Int64 { Int64((now().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Expired rows (and audit records past `[audit] retention_days`) go at most once a
    /// minute, on whichever thread comes first; the audit summaries of ended windows are
    /// written then too, so their counts do not wait for the next failure of the same kind.
    func purgeIfDue() {
        let now = clock
        let last = lastPurge.load(ordering: .relaxed)
        guard now - last >= 60, lastPurge.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        do {
            let retention = configuration.auditRetentionDays
            let removed = try store.purgeExpired(now: now, auditBefore: retention > 0 ? Int64(now - retention * 86_400) * 1000 : nil)
            if removed > 0 { log("oidc_purge", ["rows": "\(removed)"]) }
            for summary in auditThrottle.flush(now: self.now().timeIntervalSince1970) { try store.appendAudit(summary) }
        } catch {
            log("oidc_store_error", ["operation": "purge", "error": error.description])
        }
    }

    // MARK: shared helpers

    /// The form parameters of a POST body, refusing malformed encoding and repeated names
    /// (RFC 6749 section 3.2: parameters must not be included more than once).
    func formParameters(_ request: HTTPRequest) throws(OAuthFailure) -> [String: String] {
        let type = request.header("Content-Type")?.split(separator: ";").first.map {
            $0.trimmingWhitespace().lowercased()
        }
        guard type == "application/x-www-form-urlencoded" else {
            throw .invalidRequest("the body must be application/x-www-form-urlencoded")
        }
        guard let pairs = FormURLEncoding.decodeStrict(request.body) else { throw .invalidRequest("malformed form encoding") }
        return try unique(pairs)
    }

    func unique(_ pairs: [(name: String, value: String)]) throws(OAuthFailure) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in pairs {
            if result[name] != nil { throw .invalidRequest("parameter \(name) repeated") }
            result[name] = value
        }
        return result
    }

    /// `sub` for a client: the Codice Fiscale, or a pairwise identifier for the client's sector.
    public func subjectIdentifier(_ subject: LoginSubject, for client: ClientRegistration) -> String {
        switch client.subjectType {
        case .public:
            return subject.codiceFiscale
        case .pairwise:
            var input = Array(client.sectorIdentifier.utf8) + [0]
            input += Array(subject.codiceFiscale.utf8) + [0] + pairwiseSalt
            return Base64URL.encode(SHA256.hash(data: input))
        }
    }

    /// A durable record: one per login, token issued, or anything an authenticated party did.
    public func audit(_ record: AuditRecord) throws(StoreError) {
        try store.appendAudit(record)
    }

    /// `durable: false` for a failure nobody authenticated for: it goes through the throttle
    /// (sampled, the rest counted into a summary record), so a flood cannot fill the disk.
    func audit(_ record: AuditRecord, durable: Bool) throws(StoreError) {
        guard !durable else { return try store.appendAudit(record) }
        let (write, summaries) = auditThrottle.admit(record, now: now().timeIntervalSince1970)
        for summary in summaries { try store.appendAudit(summary) }
        if write { try store.appendAudit(record) }
    }
}

/// What one back-channel call leaves in the audit trail, filled in as the handler learns it
/// (a failure thrown half-way still names the client and the citizen it was about).
final class AuditDraft {
    var clientID = ""
    var subject: LoginSubject?
    /// "ok", or the reason code of what went wrong.
    var reason = "ok"
    /// The caller proved who it is (client authentication, or a valid token presented as it
    /// must be): its failures are audited one by one, like successes.
    var authenticated = false
}

/// Remembers secrets that verified against a slow (PBKDF2) hash, so it runs once per client
/// and secret, not on every token request. The cache holds an HMAC of the secret under a
/// per-process random key, never the secret. A fast (generated-secret) hash is simply checked.
final class SecretVerifier: Sendable {
    private let key = SymmetricKey(size: .bits256)
    private let verified = Mutex<[String: Set<Data>]>([:])
    /// PBKDF2 runs so far (what the rate limit is there to bound).
    let slowRuns = Atomic<Int>(0)

    /// May run PBKDF2.
    func verify(_ secret: String, client: ClientRegistration) -> Bool {
        if let cheap = verifyIfCheap(secret, client: client) { return cheap }
        slowRuns.add(1, ordering: .relaxed)
        guard let hash = client.secretHash, hash.matches(secret) else { return false }
        let mac = cacheKey(secret, hash)
        verified.withLock { cache in
            if (cache[client.id]?.count ?? 0) >= 4 { cache[client.id] = [] }
            cache[client.id, default: []].insert(mac)
        }
        return true
    }

    /// The answer when it costs no PBKDF2 run (a fast hash, or a slow one that verified
    /// before); nil when only the slow hash could tell.
    func verifyIfCheap(_ secret: String, client: ClientRegistration) -> Bool? {
        guard let hash = client.secretHash else { return false }
        guard hash.isSlow else { return hash.matches(secret) }
        let mac = cacheKey(secret, hash)
        return verified.withLock({ $0[client.id]?.contains(mac) ?? false }) ? true : nil
    }

    /// The hash's parameters, unambiguously (lengths first), then the secret.
    private func cacheKey(_ secret: String, _ hash: SecretHash) -> Data {
        var input = withUnsafeBytes(of: (hash.salt.count, hash.hash.count), Array.init)
        input += Array(hash.description.utf8) + [0]
        input += Array(secret.utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: input, using: key))
    }
}
