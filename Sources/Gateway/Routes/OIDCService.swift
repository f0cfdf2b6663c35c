import JSON
import CNS
import FoundationEssentials
import HTTP1
import Logging
import OIDC
import Pages
import Store
import Synchronization

/// What the router knows about one request, for the OpenID Connect endpoints.
struct OIDCRequestContext: Sendable {
    var listenerName: String
    /// True on the login listener (the one whose handshake asks for the card).
    var requestsClientCertificate: Bool
    var clientAddress: String
    /// The connection's card, judged on the loop thread before the handler runs on the
    /// blocking pool; nil for requests that do not need it.
    var card: CardLogin?
    /// Lowercase hex SHA-256 of the certificate the connection's handshake presented (its key
    /// possession proved, whatever the verdict): for certificate-bound tokens.
    var clientCertificateThumbprint: String?
    var language: PageLanguage
    var pages: PageRenderer
    var cookieHeader: String?
    /// The path the listener's pages live under (see `RequestContext.pathPrefix`).
    var basePath: String

    init(listenerName: String, requestsClientCertificate: Bool, clientAddress: String, card: CardLogin?,
         clientCertificateThumbprint: String?, language: PageLanguage, pages: PageRenderer, cookieHeader: String?, basePath: String = "") {
        self.listenerName = listenerName
        self.requestsClientCertificate = requestsClientCertificate
        self.clientAddress = clientAddress
        self.card = card
        self.clientCertificateThumbprint = clientCertificateThumbprint
        self.language = language
        self.pages = pages
        self.cookieHeader = cookieHeader
        self.basePath = basePath
    }
}

/// Why the provider of a generation could not be set up, or a client's JWK Set not fetched.
struct OIDCServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        /// `server.state_dir` or `store.key_encryption_key_file` missing.
        case configuration
        /// The signing keys could not be read or made.
        case keys
        /// The SQLite or PostgreSQL store could not be opened.
        case store
        /// A client's `jwks_uri` could not be fetched or is not a JWK Set.
        case jwks
    }
    var code: Code
    var reason: String
    var file: String
    var line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    var description: String { reason }
    static func == (lhs: OIDCServiceError, rhs: OIDCServiceError) -> Bool { lhs.code == rhs.code }
}

/// The provider for one generation: settings, keys (re-read on each SIGHUP) and the
/// process-wide store. Called concurrently by every loop thread.
final class OIDCService: Sendable {
    let provider: Provider
    let settings: OIDCSettings

    init(settings: OIDCSettings, stateDirectory: String?, now: @escaping @Sendable () -> Date = { Date() }) throws(OIDCServiceError) {
        guard stateDirectory != nil else { throw OIDCServiceError(.configuration, "server.state_dir is required with [oidc]") }
        let logger = Logger(label: "cns-gateway.oidc")
        let secrets: ProviderSecrets
        let store: any OIDCStore
        var keySource: (@Sendable () -> KeySet)?
        let nowSeconds = Int(now().timeIntervalSince1970)
        switch settings.store {
        case .sqlite(let path):
            do {
                secrets = try KeyFile.loadOrCreate(path: settings.keyFile, required: settings.provider.requiredAlgorithms, now: nowSeconds)
            } catch {
                throw OIDCServiceError(.keys, "OIDC keys: \(error)")
            }
            do {
                store = try SQLiteStore.open(path: path)
            } catch {
                throw OIDCServiceError(.store, "OIDC store: \(error)")
            }
        case .postgres(let target):
            if let warning = target.transportWarning { logger.warning("store_transport_unverified", metadata: ["detail": "\(warning)"]) }
            StoreHealth.shared.observe { available, reason in
                if available {
                    logger.notice("store_available", metadata: ["store": "\(target)"])
                } else {
                    logger.error("store_unavailable", metadata: ["store": "\(target)", "error": "\(reason ?? "")"])
                }
            }
            let shared: SharedSecrets
            do {
                guard let kekFile = settings.keyEncryptionKeyFile else {
                    throw OIDCServiceError(.configuration, "store.key_encryption_key_file is required with a postgres:// store")
                }
                // Process-wide and connected lazily: a reload keeps the pool and its connections.
                let postgres = try PostgresStore.open(target: target)
                shared = SharedSecrets.open(store: postgres, kek: try KeyEncryptionKey.load(path: kekFile), versionFile: settings.secretsVersionFile)
                store = postgres
            } catch {
                throw OIDCServiceError(.store, "OIDC store: \(error)")
            }
            // Every instance signs with the keys in the database (created by the first to start).
            do {
                secrets = try shared.loadOrCreate(required: settings.provider.requiredAlgorithms, now: nowSeconds)
            } catch {
                // A reload while the database is away keeps the keys this process already has.
                guard let known = shared.lastKnown else { throw OIDCServiceError(.keys, "OIDC keys: \(error)") }
                logger.warning("oidc_keys_from_cache", metadata: ["error": "\(error)"])
                secrets = known
            }
            keySource = { shared.currentKeys() }
        }
        var configuration = settings.provider
        for index in configuration.clients.indices {
            guard let uri = settings.jwksURIs[configuration.clients[index].id] else { continue }
            switch Self.fetchJWKS(uri) {
            case .success(let keys):
                configuration.clients[index].keys += keys
            case .failure(let error):
                // The rest of the gateway keeps working; this client cannot authenticate until a reload fetches its keys.
                logger.error("oidc_jwks_fetch_failed", metadata: ["client_id": "\(configuration.clients[index].id)", "error": "\(error)"])
            }
        }
        self.settings = settings
        let fixedKeys = secrets.keys
        self.provider = Provider(configuration: configuration, keySource: keySource ?? { fixedKeys }, store: store,
                                 pairwiseSalt: secrets.pairwiseSalt, now: now,
                                 clientAuthLimiter: Self.sharedLimiter(configuration.clientAuthLimits),
                                 auditThrottle: Self.sharedThrottle(configuration.auditThrottle), log: { event, fields in
            var metadata: Logger.Metadata = [:]
            for (key, value) in fields { metadata[key] = "\(value)" }
            logger.info("\(event)", metadata: metadata)
        })
    }

    /// One limiter for the process, kept across reloads (a SIGHUP must not forgive a flood);
    /// a new one only when its settings change.
    private static let limiter = Mutex<ClientAuthLimiter?>(nil)

    static func sharedLimiter(_ settings: ClientAuthLimiter.Settings) -> ClientAuthLimiter {
        limiter.withLock { current in
            if let current, current.settings == settings { return current }
            let fresh = ClientAuthLimiter(settings: settings)
            current = fresh
            return fresh
        }
    }

    /// Likewise one audit throttle, so a reload neither loses the counts of the current
    /// window nor opens a new allowance of samples.
    private static let throttle = Mutex<AuditThrottle?>(nil)

    static func sharedThrottle(_ settings: AuditThrottle.Settings) -> AuditThrottle {
        throttle.withLock { current in
            if let current, current.settings == settings { return current }
            let fresh = AuditThrottle(settings: settings)
            current = fresh
            return fresh
        }
    }

    func handles(_ request: HTTPRequest) -> Bool { provider.isEndpoint(request.path) }

    /// The blocking pool `request` runs on: the browser's steps of a login (and logout) on the
    /// login pool, whatever a relying party's back end calls on the back channel's.
    func lane(_ request: HTTPRequest) -> Router.Lane {
        provider.isFrontChannel(request.path) ? .login : .backChannel
    }

    /// Whether answering `request` reads the connection's card (a login).
    func needsCard(_ request: HTTPRequest, requestsClientCertificate: Bool) -> Bool {
        provider.needsCard(request.path, requestsClientCertificate: requestsClientCertificate)
    }

    /// Nil when the request is not for an OIDC endpoint.
    func handle(_ request: HTTPRequest, context: OIDCRequestContext) -> HTTPResponse? {
        let info = ProviderRequestInfo(
            requestsClientCertificate: context.requestsClientCertificate, clientAddress: context.clientAddress,
            cookieHeader: context.cookieHeader,
            // The certificate this connection's handshake proved possession of: what a bound
            // access token must match at /userinfo and /introspect.
            clientCertificateThumbprint: context.clientCertificateThumbprint, card: context.card)
        guard let outcome = provider.handle(request, info: info) else { return nil }
        switch outcome {
        case .response(let response):
            return response
        case .page(let page, let status, let headers):
            return render(page, status: status, headers: headers, context: context)
        }
    }

    private func render(_ page: OIDCPage, status: Int, headers: [HTTPHeader], context: OIDCRequestContext) -> HTTPResponse {
        let html: String
        switch page {
        case .landing(_, let continueURL, let kinds):
            html = context.pages.landing(context.language, continueURL: continueURL, cardKinds: kinds, basePath: context.basePath)
        case .loginFailed(let reason, _, let backURL, let kind, let accepted):
            html = context.pages.error(reason: reason, language: context.language, returnURL: backURL, cardKind: kind,
                                       acceptedKinds: accepted, basePath: context.basePath)
        case .requestError(let reason, _):
            // The page set has no page per OAuth request error: a broken link is `bad_request`.
            html = context.pages.error(reason: reason == "server_error" ? "temporarily_unavailable" : "bad_request", language: context.language,
                                       basePath: context.basePath)
        case .loggedOut:
            html = Self.loggedOutPage(context.language)
        }
        // The same self-contained-page headers as the router's own pages.
        var all = [HTTPHeader(name: "Content-Type", value: "text/html; charset=utf-8"),
                   HTTPHeader(name: "Content-Security-Policy",
                              value: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
                   HTTPHeader(name: "X-Content-Type-Options", value: "nosniff"),
                   HTTPHeader(name: "Referrer-Policy", value: "no-referrer")]
        all += headers
        if !all.contains(where: { $0.name == "Cache-Control" }) { all.append(HTTPHeader(name: "Cache-Control", value: "no-store")) }
        return HTTPResponse(status: status, headers: all, body: Array(html.utf8))
    }

    static func loggedOutPage(_ language: PageLanguage) -> String {
        let (title, text) = language == .en
            ? ("Signed out", "You have signed out of \"Accedi con TS-CNS\". You can remove the card from the reader.")
            : ("Uscita effettuata", "Sei uscito da \"Accedi con TS-CNS\". Puoi togliere la carta dal lettore.")
        return "<!DOCTYPE html>\n<html lang=\"\(language.rawValue)\"><head><meta charset=\"utf-8\"><title>\(title)</title></head>"
            + "<body><main><h1>\(title)</h1><p>\(text)</p></main></body></html>\n"
    }

    /// A client's JWKS, fetched once per generation (start, SIGHUP) on the control thread.
    static func fetchJWKS(_ uri: String) -> Result<[VerificationKey], OIDCServiceError> {
        let body: [UInt8]
        do {
            body = try JWKSFetcher.fetch(uri)
        } catch {
            return .failure(OIDCServiceError(.jwks, error.description))
        }
        guard let list = JSONValue.decode(body)?["keys"]?.arrayValue else {
            return .failure(OIDCServiceError(.jwks, "not a JWK Set"))
        }
        return .success(list.compactMap { try? VerificationKey(jwk: $0) })
    }
}
