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
    /// The card the certificate was recognised as, also when it was refused (for the page and
    /// the audit trail); nil when the profile could not tell.
    public var cardKind: CardKind?

    public init(reason: String, subject: LoginSubject?, certificateSerial: String? = nil, certificateIssuer: String? = nil,
                handshakeAt: Date? = nil, cardKind: CardKind? = nil) {
        self.reason = reason
        self.subject = subject
        self.certificateSerial = certificateSerial ?? subject?.certificateSerial
        self.certificateIssuer = certificateIssuer ?? subject?.certificateIssuer
        self.handshakeAt = handshakeAt
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
    /// The connection's card, for the requests that `Provider.needsCard` names; nil otherwise.
    public var card: CardLogin?

    public init(requestsClientCertificate: Bool, clientAddress: String, cookieHeader: String?, card: CardLogin?) {
        self.requestsClientCertificate = requestsClientCertificate
        self.clientAddress = clientAddress
        self.cookieHeader = cookieHeader
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
    let lastPurge = Atomic<Int>(0)

    public static let sessionCookie = "__Host-cns_session"

    public convenience init(configuration: ProviderConfiguration, keys: KeySet, store: any OIDCStore, pairwiseSalt: [UInt8],
                            now: @escaping @Sendable () -> Date = { Date() },
                            log: @escaping @Sendable (_ event: String, _ fields: [String: String]) -> Void = { _, _ in }) {
        self.init(configuration: configuration, keySource: { keys }, store: store, pairwiseSalt: pairwiseSalt, now: now, log: log)
    }

    /// `keySource` is called on every use of the keys (JWKS, signing, verifying): it must be
    /// cheap (a cached set), and must not block for long.
    public init(configuration: ProviderConfiguration, keySource: @escaping @Sendable () -> KeySet, store: any OIDCStore,
                pairwiseSalt: [UInt8], now: @escaping @Sendable () -> Date = { Date() },
                log: @escaping @Sendable (_ event: String, _ fields: [String: String]) -> Void = { _, _ in }) {
        self.configuration = configuration
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
        case .token: return .response(backChannel("token", info) { (draft) throws(OAuthFailure) in try token(request, audit: draft) })
        case .userinfo: return .response(backChannel("userinfo", info) { (draft) throws(OAuthFailure) in try userinfo(request, audit: draft) })
        case .introspect:
            return .response(backChannel("introspect", info) { (draft) throws(OAuthFailure) in try introspect(request, audit: draft) })
        case .revoke: return .response(backChannel("revoke", info) { (draft) throws(OAuthFailure) in try revoke(request, audit: draft) })
        case .logout: return logout(request, info: info)
        }
    }

    /// Runs a back-channel endpoint and leaves one audit record for the call, success or not.
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
                                  cardKind: draft.subject?.cardKind.rawValue))
        } catch {
            log("oidc_store_error", ["operation": "audit", "error": error.description])
        }
    }

    var nowMilliseconds: Int64 { Int64((now().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Expired rows go at most once a minute, on whichever thread comes first.
    func purgeIfDue() {
        let now = clock
        let last = lastPurge.load(ordering: .relaxed)
        guard now - last >= 60, lastPurge.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        do {
            let removed = try store.purgeExpired(now: now)
            if removed > 0 { log("oidc_purge", ["rows": "\(removed)"]) }
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

    public func audit(_ record: AuditRecord) throws(StoreError) {
        try store.appendAudit(record)
    }
}

/// What one back-channel call leaves in the audit trail, filled in as the handler learns it
/// (a failure thrown half-way still names the client and the citizen it was about).
final class AuditDraft {
    var clientID = ""
    var subject: LoginSubject?
    /// "ok", or the reason code of what went wrong.
    var reason = "ok"
}

/// Remembers secrets that verified, so the slow hash runs once per client and secret, not
/// on every token request (the loop threads cannot afford 100 ms per request). The cache
/// holds an HMAC of the secret under a per-process random key, never the secret.
final class SecretVerifier: Sendable {
    private let key = SymmetricKey(size: .bits256)
    private let verified = Mutex<[String: Set<Data>]>([:])

    func verify(_ secret: String, client: ClientRegistration) -> Bool {
        guard let hash = client.secretHash else { return false }
        // The hash's parameters, unambiguously (lengths first), then the secret.
        var input = withUnsafeBytes(of: (hash.salt.count, hash.hash.count, hash.iterations), Array.init)
        input += hash.salt + hash.hash
        input += Array(secret.utf8)
        let mac = Data(HMAC<SHA256>.authenticationCode(for: input, using: key))
        if verified.withLock({ $0[client.id]?.contains(mac) ?? false }) { return true }
        guard hash.matches(secret) else { return false }
        verified.withLock { cache in
            if (cache[client.id]?.count ?? 0) >= 4 { cache[client.id] = [] }
            cache[client.id, default: []].insert(mac)
        }
        return true
    }
}
