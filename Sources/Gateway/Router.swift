import Foundation
import HTTP1
import Posix
import TLS

/// What a handler may know about the connection a request came on.
final class RequestContext {
    let connection: Connection
    let shared: SharedState
    /// The reason code this request's outcome is logged with, when there is one.
    var reasonForLog: String?

    init(connection: Connection, shared: SharedState) {
        self.connection = connection
        self.shared = shared
    }

    var verdict: CertificateVerdict { connection.tls?.verdict ?? .noCertificate }

    /// Chain verdict plus the CNS profile, once per connection.
    var login: LoginVerdict {
        if let cached = connection.loginVerdict { return cached }
        let verdict = LoginVerdict.evaluate(chain: self.verdict, peer: connection.tls?.peerCertificate(),
                                            profile: connection.generation.config.profile)
        connection.loginVerdict = verdict
        return verdict
    }
}

/// Maps requests to responses. Pure with respect to I/O: handlers read the context and
/// return a response; the worker does the writing.
struct Router: Sendable {
    let accessLog: Bool

    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPResponse {
        guard request.method == "GET" else {
            if ["/healthz", "/whoami"].contains(request.path) {
                var response = errorResponse(status: 405, message: "method not allowed")
                response.headers.append(HTTPHeader(name: "Allow", value: "GET"))
                return response
            }
            return errorResponse(status: 404, message: "not found")
        }
        let response: HTTPResponse
        switch request.path {
        case "/healthz":
            response = health(context)
        case "/whoami":
            response = whoami(context)
        default:
            response = errorResponse(status: 404, message: "not found")
        }
        return response
    }

    func errorResponse(status: Int, message: String) -> HTTPResponse {
        json(status: status, ["error": message, "status": status])
    }

    private func json(status: Int, _ object: [String: Any]) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [
            HTTPHeader(name: "Content-Type", value: "application/json"),
            HTTPHeader(name: "Cache-Control", value: "no-store"),
        ], body: [UInt8](body) + [0x0a])
    }

    private func health(_ context: RequestContext) -> HTTPResponse {
        let generation = context.shared.generation
        let reload = context.shared.reloadStatus
        let draining = context.shared.isDraining
        var last: [String: Any] = ["ok": reload.ok, "time": ISO8601.string(reload.time)]
        if let error = reload.error { last["error"] = error }
        let body: [String: Any] = [
            "status": draining ? "draining" : "serving",
            "trust": [
                "generation": generation.number,
                "ca_certificates": generation.trust.caCount,
                "crls": generation.trust.crls.count,
                "crls_fresh": generation.trust.crlsFresh,
            ],
            "last_reload": last,
        ]
        return json(status: draining ? 503 : 200, body)
    }

    private func whoami(_ context: RequestContext) -> HTTPResponse {
        let connection = context.connection
        let tls = connection.tls
        let login = context.login
        context.reasonForLog = login.reason
        var body: [String: Any] = [
            "client_address": connection.client.description,
            "listener": connection.listener.name,
            "tls_version": tls?.version ?? "",
            "cipher": tls?.cipher ?? "",
            "alpn": tls?.alpn ?? NSNull(),
            "verdict": [
                "reason": login.reason,
                "chain_reason": login.chain.reason.rawValue,
                "openssl_code": Int(login.chain.opensslCode),
                "openssl_error": login.chain.opensslError,
            ],
        ]
        if let peer = login.peer {
            var cert: [String: Any] = [
                "subject": peer.subject, "issuer": peer.issuer, "serial": peer.serialHex, "sha256": peer.sha256,
            ]
            if let notBefore = peer.notBefore { cert["not_before"] = ISO8601.string(notBefore) }
            if let notAfter = peer.notAfter { cert["not_after"] = ISO8601.string(notAfter) }
            body["client_certificate"] = cert
        } else {
            body["client_certificate"] = NSNull()
        }
        body["identity"] = login.identity.map(VerdictReport.identityDictionary) ?? NSNull()
        if let rejection = login.rejection { body["profile"] = ["reason": rejection.reason.rawValue, "detail": rejection.detail] }
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
