#if canImport(Glibc)
import JSON
import Glibc
#endif
import FoundationEssentials
import HTTP1
import Logging
import OIDC
import Pages
import Posix
import Store
import Synchronization
import TLS
import TrustList

/// Maps requests to responses: a function of the request and the connection's facts. No I/O:
/// the worker does the reading, writing, logging and counting; the router only reports a card
/// verdict it computed (`cardEvaluated`, once per connection) so the worker records it where
/// the card was needed.
struct Router: Sendable {
    let accessLog: Bool

    /// What the router decided: a response now, or work that must not run on a loop thread
    /// (database writes, slow secret hashes, a card's OCSP query), each with the reason code
    /// the access log carries.
    enum RouteResult {
        case response(HTTPResponse, reason: String?)
        case deferred(reason: String?, lane: Lane, work: @Sendable () -> DeferredResponse)
    }

    /// A deferred handler's answer; with the card's verdict when the work computed it (an OCSP
    /// query), for the loop to log and count, and whose reason the access log then carries.
    struct DeferredResponse: Sendable {
        var response: HTTPResponse
        var cardVerdict: CardVerdict? = nil
    }

    /// Which bounded pool deferred work waits in: a citizen's login, or a relying party's back
    /// channel, so a flood of one (wrong client secrets and their slow hash) cannot queue the other.
    enum Lane: String, Sendable {
        case login
        case backChannel = "back_channel"
    }

    /// The card's verdict under the trust generation current now (a reload since the handshake
    /// judges the card again) given to `respond`: here when it is known (reported to
    /// `cardEvaluated` when computed), or on the blocking pool when the card's OCSP responder
    /// must be asked first.
    private func withCard(_ context: RequestContext, _ cardEvaluated: (CardVerdict) -> Void,
                          deferAnyway: Bool = false, lane: Lane = .login,
                          respond: @escaping @Sendable (CardVerdict) -> HTTPResponse) -> RouteResult {
        switch context.card.evaluate(under: context.server.generation) {
        case .decided(let verdict, let computed):
            if computed { cardEvaluated(verdict) }
            if deferAnyway { return .deferred(reason: verdict.reason, lane: lane) { DeferredResponse(response: respond(verdict)) } }
            return .response(respond(verdict), reason: verdict.reason)
        case .pending(let pending):
            // A card page's OCSP query waits with the logins: it is a citizen's request too.
            return .deferred(reason: nil, lane: lane) {
                let verdict = pending.resolve()
                return DeferredResponse(response: respond(verdict), cardVerdict: verdict)
            }
        }
    }

    static let getRoutes: Set<String> = ["/", "/cie", "/verifica", "/healthz", "/readyz", "/whoami"]

    /// The admin listener (plain HTTP, loopback by default): metrics and probes only.
    func respondAdmin(to request: HTTPRequest, context: RequestContext) -> HTTPResponse {
        guard request.method == "GET" else { return errorResponse(status: 405, message: "method not allowed") }
        switch request.path {
        case "/metrics":
            return HTTPResponse(status: 200, headers: [
                HTTPHeader(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8"),
                HTTPHeader(name: "Cache-Control", value: "no-store"),
            ], body: GatewayMetrics.render(shared: context.server))
        case "/healthz":
            return health(context)
        case "/readyz":
            return ready(context)
        default:
            return errorResponse(status: 404, message: "not found")
        }
    }

    /// Ready = serving, not draining and the state store answering: a proxy health check
    /// takes the instance out of rotation before it stops, and while its database is away.
    private func ready(_ context: RequestContext) -> HTTPResponse {
        if context.server.isDraining { return json(status: 503, ["status": "draining"]) }
        guard StoreHealth.shared.isAvailable else {
            return json(status: 503, ["status": "store_unavailable"])
        }
        return json(status: 200, ["status": "ready"])
    }

    func route(_ request: HTTPRequest, context: RequestContext, cardEvaluated: (CardVerdict) -> Void) -> RouteResult {
        if context.isAdmin { return .response(respondAdmin(to: request, context: context), reason: nil) }
        let generation = context.generation
        if let oidc = generation.oidc, oidc.handles(request) {
            // Only a login reads the card; it is judged on the loop thread that owns the
            // connection (or, when its responder must be asked, on the blocking pool before the
            // handler), and the handler gets a value it can read from any thread.
            let router = self
            let handle = { @Sendable (card: CardLogin?) -> HTTPResponse in
                let oidcContext = OIDCRequestContext(
                    listenerName: context.listener,
                    requestsClientCertificate: context.requestsClientCertificate,
                    clientAddress: context.client.ipString,
                    card: card,
                    clientCertificateThumbprint: context.card.presentedSHA256,
                    language: PageLanguage.negotiate(query: request.query, acceptLanguage: request.header("Accept-Language")),
                    pages: generation.pages,
                    cookieHeader: request.header("Cookie"),
                    basePath: context.pathPrefix)
                return oidc.handle(request, context: oidcContext) ?? router.errorResponse(status: 404, message: "not found")
            }
            let lane = oidc.lane(request)
            guard oidc.needsCard(request, requestsClientCertificate: context.requestsClientCertificate) else {
                return .deferred(reason: nil, lane: lane) { DeferredResponse(response: handle(nil)) }
            }
            return withCard(context, cardEvaluated, deferAnyway: true, lane: lane) { verdict in handle(verdict.cardLogin) }
        }
        guard let path = Router.localPath(request.path, prefix: context.pathPrefix) else {
            return .response(errorResponse(status: 404, message: "not found"), reason: nil)
        }
        return respond(to: request, path: path, context: context, cardEvaluated: cardEvaluated)
    }

    /// The route a path names on a listener whose pages live under `prefix` (a reverse proxy
    /// serving the gateway at `https://host/prefix/`, forwarding the path unchanged): the path
    /// without the prefix; nil when it is outside. The probes answer at the root too, for a
    /// balancer's health check that reaches the gateway directly.
    static func localPath(_ path: String, prefix: String) -> String? {
        if prefix.isEmpty { return path }
        if path == prefix { return "/" }
        if path.hasPrefix(prefix), path.utf8.dropFirst(prefix.utf8.count).first == UInt8(ascii: "/") {
            return String(path.dropFirst(prefix.count))
        }
        return path == "/healthz" || path == "/readyz" ? path : nil
    }

    private func respond(to request: HTTPRequest, path: String, context: RequestContext, cardEvaluated: (CardVerdict) -> Void) -> RouteResult {
        guard request.method == "GET" else {
            if Router.getRoutes.contains(path) {
                var response = errorResponse(status: 405, message: "method not allowed")
                response.headers.append(HTTPHeader(name: "Allow", value: "GET"))
                return .response(response, reason: nil)
            }
            return .response(errorResponse(status: 404, message: "not found"), reason: nil)
        }
        switch path {
        case "/healthz":
            return .response(health(context), reason: nil)
        case "/readyz":
            return .response(ready(context), reason: nil)
        case "/whoami":
            let router = self
            return withCard(context, cardEvaluated) { login in router.whoami(context, login) }
        case "/", "/cie", "/verifica":
            let language = PageLanguage.negotiate(query: request.query, acceptLanguage: request.header("Accept-Language"))
            let pages = context.generation.pages
            if path == "/" {
                return .response(html(status: 200, pages.landing(language, continueURL: nil, query: request.query,
                                                                 basePath: context.pathPrefix)), reason: nil)
            }
            if path == "/cie" {
                return .response(html(status: 200, pages.cieHelp(language, query: request.query, basePath: context.pathPrefix)),
                                 reason: nil)
            }
            let router = self
            return withCard(context, cardEvaluated) { login in
                // A forwarded header that does not decode was a certificate all the same: the
                // page says malformed, not "no card".
                let report = CardReport(
                    presented: login.peer != nil || login.reason != CertificateReason.noCertificate.rawValue,
                    reason: login.reason, identity: login.identity, kind: login.kind,
                    subject: login.peer?.subject, issuer: login.peer?.issuer, serialHex: login.peer?.serialHex,
                    notAfter: login.peer?.notAfter, sha256: login.peer?.sha256,
                    opensslError: login.peer == nil ? nil : login.chain.opensslError)
                return router.html(status: 200, pages.verifica(report, language: language, query: request.query,
                                                               basePath: context.pathPrefix))
            }
        default:
            return .response(errorResponse(status: 404, message: "not found"), reason: nil)
        }
    }

    /// An HTML page with headers that keep it self-contained: no scripts, no external
    /// resources, no framing, nothing cached.
    func html(status: Int, _ page: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [
            HTTPHeader(name: "Content-Type", value: "text/html; charset=utf-8"),
            HTTPHeader(name: "Cache-Control", value: "no-store"),
            HTTPHeader(name: "Content-Security-Policy",
                       value: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            HTTPHeader(name: "X-Content-Type-Options", value: "nosniff"),
            HTTPHeader(name: "Referrer-Policy", value: "no-referrer"),
        ], body: Array(page.utf8))
    }

    func errorResponse(status: Int, message: String) -> HTTPResponse {
        json(status: status, ["error": .string(message), "status": .int(status)])
    }

    /// 503 with Retry-After: the blocking pool's queue is full.
    func unavailable(retryAfter seconds: Int) -> HTTPResponse {
        var response = errorResponse(status: 503, message: "temporarily unavailable")
        response.headers.append(HTTPHeader(name: "Retry-After", value: String(seconds)))
        return response
    }

    /// Compact, keys sorted, `/` unescaped: what `JSONSerialization` with `.sortedKeys` and
    /// `.withoutEscapingSlashes` wrote before (our keys sort the same by bytes as by its collation).
    private func json(status: Int, _ object: [String: JSONValue]) -> HTTPResponse {
        HTTPResponse(status: status, headers: [
            HTTPHeader(name: "Content-Type", value: "application/json"),
            HTTPHeader(name: "Cache-Control", value: "no-store"),
        ], body: JSONValue.object(object).encoded() + [0x0a])
    }

    private func health(_ context: RequestContext) -> HTTPResponse {
        let generation = context.server.generation
        let reload = context.server.reloadStatus
        let draining = context.server.isDraining
        let now = Date()
        // Probes hit this every few seconds per balancer: the body changes only with the
        // generation, the last reload, draining or a CA's CRL going stale or overdue, so it
        // is built once per such state instead of being encoded on every request.
        let key = HealthResponseCache.Key(generation: generation.number, reloadOK: reload.ok,
                                          reloadTime: reload.time, reloadError: reload.error,
                                          draining: draining, revocationEpoch: generation.trust.revocationEpoch(at: now),
                                          trustListPastNextUpdate: generation.trustList?.nextUpdate.map { $0 <= now } ?? false)
        if let cached = Router.healthCache.response(for: key) { return cached }
        let fresh = generation.trust.crlsFresh
        let problems = generation.trust.revocationProblems(at: now)
        let names = { (list: [CARevocation]) -> JSONValue in .array(list.map { .string($0.subject) }) }
        var last: [String: JSONValue] = ["ok": .bool(reload.ok), "time": .string(ISO8601.string(reload.time))]
        if let error = reload.error { last["error"] = .string(error) }
        var body: [String: JSONValue] = [
            "status": draining ? "draining" : "serving",
            "trust": [
                "generation": .int(generation.number),
                "ca_certificates": .int(generation.trust.caCount),
                "crls": .int(generation.trust.crls.count),
                "crls_fresh": .bool(fresh),
                // CAs without a CRL, with one past nextUpdate, and past the overdue bound
                // (those CAs' cards are refused with revocation_unavailable).
                "revocation": [
                    "missing": names(problems.missing),
                    "stale": names(problems.stale),
                    "overdue": names(problems.overdue),
                    "max_crl_overdue": .int(Int(generation.trust.maxCRLOverdue)),
                ],
            ],
            "last_reload": .object(last),
        ]
        if let list = generation.trustList {
            // A list past its NextUpdate: AgID has not published (or we have not fetched) a newer
            // one; the CAs in use may be out of date.
            body["trust_list"] = [
                "sequence_number": .int(list.sequenceNumber),
                "next_update": list.nextUpdate.map { .string(ISO8601.string($0)) } ?? .null,
                "past_next_update": .bool(list.nextUpdate.map { $0 <= now } ?? false),
                "ca_certificates": .int(list.entries.count),
                "imported_at": .string(ISO8601.string(list.importedAt)),
            ]
        }
        let response = json(status: draining ? 503 : 200, body)
        Router.healthCache.store(response, for: key)
        return response
    }

    private static let healthCache = HealthResponseCache()

    private func whoami(_ context: RequestContext, _ login: CardVerdict) -> HTTPResponse {
        let tls = context.tls
        var verdict: [String: JSONValue] = [
            "reason": .string(login.reason),
            "chain_reason": .string(login.chain.reason.rawValue),
            "openssl_code": .int(Int(login.chain.opensslCode)),
            "openssl_error": .string(login.chain.opensslError),
            "card_kind": login.kind.map { .string($0.rawValue) } ?? .null,
            "revocation_source": login.revocationSource.map { .string($0.rawValue) } ?? .null,
        ]
        if let failure = login.ocspFailure { verdict["ocsp_failure"] = .string(failure) }
        if let detail = login.detail { verdict["detail"] = .string(detail) }
        var body: [String: JSONValue] = [
            "client_address": .string(context.client.description),
            "listener": .string(context.listener),
            "tls_version": .string(tls?.version ?? ""),
            "cipher": .string(tls?.cipher ?? ""),
            "alpn": tls?.alpn.map(JSONValue.string) ?? .null,
            "client_signature": tls?.clientSignature.map(JSONValue.string) ?? .null,
            "verdict": .object(verdict),
        ]
        body["client_certificate"] = login.peer.map { .object(VerdictReport.certificateDictionary($0)) } ?? .null
        // Where the card came from: this connection's handshake, or a trusted proxy's header
        // (then the TLS facts above are those of the proxy's connection).
        body["certificate_source"] = .string(login.origin.via)
        if let proxy = login.origin.proxy { body["proxy_address"] = .string(proxy.description) }
        body["identity"] = login.identity.map { .object(VerdictReport.identityDictionary($0)) } ?? .null
        if let rejection = login.rejection {
            body["profile"] = ["reason": .string(rejection.reason.rawValue), "detail": .string(rejection.detail)]
        }
        return json(status: 200, body)
    }
}

enum ISO8601 {
    static func string(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&seconds, &tm)
        func pad(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1))-\(pad(tm.tm_mday))T\(pad(tm.tm_hour)):\(pad(tm.tm_min)):\(pad(tm.tm_sec))Z"
    }
}

/// The last /healthz response and the state it was built from.
final class HealthResponseCache: Sendable {
    struct Key: Equatable {
        var generation: Int
        var reloadOK: Bool
        var reloadTime: Date
        var reloadError: String?
        var draining: Bool
        var revocationEpoch: Int
        var trustListPastNextUpdate: Bool
    }

    private let last = Mutex<(key: Key, response: HTTPResponse)?>(nil)

    func response(for key: Key) -> HTTPResponse? {
        last.withLock { $0?.key == key ? $0?.response : nil }
    }

    func store(_ response: HTTPResponse, for key: Key) {
        last.withLock { $0 = (key, response) }
    }
}
