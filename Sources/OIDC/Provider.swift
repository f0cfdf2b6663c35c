public import HTTP1
public import Foundation
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

    public init(reason: String, subject: LoginSubject?, certificateSerial: String? = nil, certificateIssuer: String? = nil) {
        self.reason = reason
        self.subject = subject
        self.certificateSerial = certificateSerial ?? subject?.certificateSerial
        self.certificateIssuer = certificateIssuer ?? subject?.certificateIssuer
    }

    public var accepted: Bool { reason == "ok" && subject != nil }
}

/// The request's connection facts, as the provider needs them.
public struct ProviderRequestInfo {
    /// True on the listener that asks for the card in its handshake.
    public var requestsClientCertificate: Bool
    public var clientAddress: String
    public var cookieHeader: String?
    /// Evaluated only when the request needs the card.
    public var login: () -> CardLogin

    public init(requestsClientCertificate: Bool, clientAddress: String, cookieHeader: String?, login: @escaping () -> CardLogin) {
        self.requestsClientCertificate = requestsClientCertificate
        self.clientAddress = clientAddress
        self.cookieHeader = cookieHeader
        self.login = login
    }
}

/// The OpenID Connect provider: every endpoint as a function from a request to an outcome,
/// over a store and a key set. No sockets, no files: the gateway supplies both.
public final class Provider: Sendable {
    public let configuration: ProviderConfiguration
    public let keys: KeySet
    public let store: any OIDCStore
    /// Secret input of pairwise subjects (OIDC Core section 8.1).
    let pairwiseSalt: [UInt8]
    let now: @Sendable () -> Date
    let log: @Sendable (_ event: String, _ fields: [String: String]) -> Void
    let secrets = SecretVerifier()
    let lastPurge = Atomic<Int>(0)

    public static let sessionCookie = "__Host-cns_session"

    public init(configuration: ProviderConfiguration, keys: KeySet, store: any OIDCStore, pairwiseSalt: [UInt8],
                now: @escaping @Sendable () -> Date = { Date() },
                log: @escaping @Sendable (_ event: String, _ fields: [String: String]) -> Void = { _, _ in }) {
        self.configuration = configuration
        self.keys = keys
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

    /// Nil when `request` is not for an OIDC endpoint.
    /// True when `path` is one of the provider's endpoints (a cheap check for the router).
    public func isEndpoint(_ path: String) -> Bool { endpoint(for: path) != nil }

    private func endpoint(for path: String) -> Endpoint? {
        let prefix = configuration.pathPrefix
        guard path.hasPrefix(prefix) || prefix.isEmpty else { return nil }
        return Endpoint(rawValue: String(path.dropFirst(prefix.count)))
    }

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
        case .token: return .response(backChannel { () throws(OAuthFailure) in try token(request) })
        case .userinfo: return .response(userinfo(request))
        case .introspect: return .response(backChannel { () throws(OAuthFailure) in try introspect(request) })
        case .revoke: return .response(backChannel { () throws(OAuthFailure) in try revoke(request) })
        case .logout: return logout(request, info: info)
        }
    }

    func backChannel(_ body: () throws(OAuthFailure) -> HTTPResponse) -> HTTPResponse {
        do { return try body() } catch { return error.response }
    }

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
            $0.trimmingCharacters(in: .whitespaces).lowercased()
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

/// Remembers secrets that verified, so the slow hash runs once per client and secret, not
/// on every token request (the loop threads cannot afford 100 ms per request). The cache
/// holds an HMAC of the secret under a per-process random key, never the secret.
final class SecretVerifier: Sendable {
    private let key = SymmetricKey(size: .bits256)
    private let verified = Mutex<[String: Set<Data>]>([:])

    func verify(_ secret: String, client: ClientRegistration) -> Bool {
        guard let hash = client.secretHash else { return false }
        let mac = Data(HMAC<SHA256>.authenticationCode(for: Array((hash.description + "\u{0}" + secret).utf8), using: key))
        if verified.withLock({ $0[client.id]?.contains(mac) ?? false }) { return true }
        guard hash.matches(secret) else { return false }
        verified.withLock { cache in
            if (cache[client.id]?.count ?? 0) >= 4 { cache[client.id] = [] }
            cache[client.id, default: []].insert(mac)
        }
        return true
    }
}
