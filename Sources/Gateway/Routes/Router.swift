#if canImport(Glibc)
import JSON
import Glibc
#endif
import FoundationEssentials
import HTTP1
import Logging
import Pages
import Posix
import Store
import Synchronization
import TLS

/// Maps requests to responses: a function of the request and the connection's facts. No I/O:
/// the worker does the reading, writing, logging and counting; the router only reports a card
/// verdict it computed (`cardEvaluated`, once per connection) so the worker records it where
/// the card was needed.
struct Router: Sendable {
    let accessLog: Bool

    /// What the router decided: a response now, or work that must not run on a loop thread
    /// (database writes, slow secret hashes), each with the reason code the access log carries.
    enum RouteResult {
        case response(HTTPResponse, reason: String?)
        case deferred(reason: String?, work: @Sendable () -> HTTPResponse)
    }

    /// The card's verdict under the trust generation current now (a reload since the handshake
    /// judges the card again); reported to `cardEvaluated` whenever it is computed.
    private func cardVerdict(_ context: RequestContext, _ cardEvaluated: (CardVerdict) -> Void) -> CardVerdict {
        let (verdict, computed) = context.card.evaluate(under: context.server.generation)
        if computed { cardEvaluated(verdict) }
        return verdict
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
            // Only a login reads the card; it is judged here, on the loop thread that owns the
            // connection, and the handler gets a value it can read from any thread.
            let card = oidc.needsCard(request, requestsClientCertificate: context.requestsClientCertificate)
                ? cardVerdict(context, cardEvaluated).cardLogin : nil
            let oidcContext = OIDCRequestContext(
                listenerName: context.listener,
                requestsClientCertificate: context.requestsClientCertificate,
                clientAddress: context.client.ipString,
                card: card,
                language: PageLanguage.negotiate(query: request.query, acceptLanguage: request.header("Accept-Language")),
                pages: generation.pages,
                cookieHeader: request.header("Cookie"))
            let router = self
            return .deferred(reason: card?.reason) {
                oidc.handle(request, context: oidcContext) ?? router.errorResponse(status: 404, message: "not found")
            }
        }
        return respond(to: request, context: context, cardEvaluated: cardEvaluated)
    }

    private func respond(to request: HTTPRequest, context: RequestContext, cardEvaluated: (CardVerdict) -> Void) -> RouteResult {
        guard request.method == "GET" else {
            if Router.getRoutes.contains(request.path) {
                var response = errorResponse(status: 405, message: "method not allowed")
                response.headers.append(HTTPHeader(name: "Allow", value: "GET"))
                return .response(response, reason: nil)
            }
            return .response(errorResponse(status: 404, message: "not found"), reason: nil)
        }
        switch request.path {
        case "/healthz":
            return .response(health(context), reason: nil)
        case "/readyz":
            return .response(ready(context), reason: nil)
        case "/whoami":
            let login = cardVerdict(context, cardEvaluated)
            return .response(whoami(context, login), reason: login.reason)
        case "/", "/cie", "/verifica":
            let language = PageLanguage.negotiate(query: request.query, acceptLanguage: request.header("Accept-Language"))
            let pages = context.generation.pages
            if request.path == "/" {
                return .response(html(status: 200, pages.landing(language, continueURL: nil, query: request.query)), reason: nil)
            }
            if request.path == "/cie" {
                return .response(html(status: 200, pages.cieHelp(language, query: request.query)), reason: nil)
            }
            let login = cardVerdict(context, cardEvaluated)
            let report = CardReport(
                presented: login.peer != nil, reason: login.reason, identity: login.identity, kind: login.kind,
                subject: login.peer?.subject, issuer: login.peer?.issuer, serialHex: login.peer?.serialHex,
                notAfter: login.peer?.notAfter, sha256: login.peer?.sha256,
                opensslError: login.peer == nil ? nil : login.chain.opensslError)
            return .response(html(status: 200, pages.verifica(report, language: language, query: request.query)), reason: login.reason)
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
        let fresh = generation.trust.crlsFresh
        // Probes hit this every few seconds per balancer: the body changes only with the
        // generation, the last reload, draining or CRL freshness, so it is built once per
        // such state instead of being encoded on every request.
        let key = HealthResponseCache.Key(generation: generation.number, reloadOK: reload.ok,
                                          reloadTime: reload.time, reloadError: reload.error,
                                          draining: draining, crlsFresh: fresh)
        if let cached = Router.healthCache.response(for: key) { return cached }
        var last: [String: JSONValue] = ["ok": .bool(reload.ok), "time": .string(ISO8601.string(reload.time))]
        if let error = reload.error { last["error"] = .string(error) }
        let body: [String: JSONValue] = [
            "status": draining ? "draining" : "serving",
            "trust": [
                "generation": .int(generation.number),
                "ca_certificates": .int(generation.trust.caCount),
                "crls": .int(generation.trust.crls.count),
                "crls_fresh": .bool(fresh),
            ],
            "last_reload": .object(last),
        ]
        let response = json(status: draining ? 503 : 200, body)
        Router.healthCache.store(response, for: key)
        return response
    }

    private static let healthCache = HealthResponseCache()

    private func whoami(_ context: RequestContext, _ login: CardVerdict) -> HTTPResponse {
        let tls = context.tls
        var body: [String: JSONValue] = [
            "client_address": .string(context.client.description),
            "listener": .string(context.listener),
            "tls_version": .string(tls?.version ?? ""),
            "cipher": .string(tls?.cipher ?? ""),
            "alpn": tls?.alpn.map(JSONValue.string) ?? .null,
            "client_signature": tls?.clientSignature.map(JSONValue.string) ?? .null,
            "verdict": [
                "reason": .string(login.reason),
                "chain_reason": .string(login.chain.reason.rawValue),
                "openssl_code": .int(Int(login.chain.opensslCode)),
                "openssl_error": .string(login.chain.opensslError),
                "card_kind": login.kind.map { .string($0.rawValue) } ?? .null,
            ],
        ]
        body["client_certificate"] = login.peer.map { .object(VerdictReport.certificateDictionary($0)) } ?? .null
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
        var crlsFresh: Bool
    }

    private let last = Mutex<(key: Key, response: HTTPResponse)?>(nil)

    func response(for key: Key) -> HTTPResponse? {
        last.withLock { $0?.key == key ? $0?.response : nil }
    }

    func store(_ response: HTTPResponse, for key: Key) {
        last.withLock { $0 = (key, response) }
    }
}
