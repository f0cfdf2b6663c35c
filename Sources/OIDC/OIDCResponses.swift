import JSON
public import CNS
public import HTTP1
import FoundationEssentials
import Crypto

/// What the citizen sees when the provider answers with a page instead of a redirect or JSON.
/// The gateway renders it with its page templates, in the citizen's language.
public enum OIDCPage: Sendable, Equatable {
    /// "Accedi con TS-CNS" / "con CIE": what is needed (reader, card, PIN) for the cards this
    /// login accepts, and a button to continue.
    case landing(clientName: String, continueURL: String, cardKinds: Set<CardKind>)
    /// The card check failed: `reason` is the gateway's reason code; `backURL` returns to the
    /// service. `cardKind` is the card presented (when recognised), `acceptedKinds` the cards
    /// this login takes, so the page speaks of the right one.
    case loginFailed(reason: String, clientName: String, backURL: String, cardKind: CardKind?, acceptedKinds: Set<CardKind>)
    /// A request no redirect can answer (unknown client, unregistered redirect URI, malformed
    /// parameters): `reason` is a reason code, `detail` says what was wrong.
    case requestError(reason: String, detail: String)
    case loggedOut(clientName: String?)
}

/// The provider's answer to one request.
public enum OIDCOutcome: Sendable, Equatable {
    case response(HTTPResponse)
    case page(OIDCPage, status: Int, headers: [HTTPHeader])

    /// The status code, for logs and tests.
    public var status: Int {
        switch self {
        case .response(let r): r.status
        case .page(_, let status, _): status
        }
    }
}

/// An OAuth error for the back-channel endpoints (RFC 6749 section 5.2, RFC 6750 section 3.1).
struct OAuthFailure: Error, Sendable {
    var status: Int
    var error: String
    var description: String
    /// 401 with `WWW-Authenticate`: `Basic` at the token endpoint, `Bearer` at userinfo.
    var challenge: String?
    /// The audit trail's reason code, finer than `error` (`code_replayed`, `pkce_failed`, ...).
    var reason: String
    /// Seconds for `Retry-After`.
    var retryAfter: Int?

    init(status: Int, error: String, description: String, challenge: String? = nil, reason: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.error = error
        self.description = description
        self.challenge = challenge
        self.reason = reason ?? error
        self.retryAfter = retryAfter
    }

    static func invalidRequest(_ d: String) -> OAuthFailure { OAuthFailure(status: 400, error: "invalid_request", description: d) }
    static func invalidClient(_ d: String, basic: Bool) -> OAuthFailure {
        OAuthFailure(status: 401, error: "invalid_client", description: d, challenge: basic ? "Basic realm=\"cns-gateway\"" : nil)
    }
    static func invalidGrant(_ d: String, reason: String? = nil) -> OAuthFailure {
        OAuthFailure(status: 400, error: "invalid_grant", description: d, reason: reason)
    }
    static func invalidToken(_ d: String, reason: String? = nil) -> OAuthFailure {
        OAuthFailure(status: 401, error: "invalid_token", description: d,
                     challenge: "Bearer error=\"invalid_token\", error_description=\"\(d)\"", reason: reason)
    }
    static func serverError(_ d: String) -> OAuthFailure { OAuthFailure(status: 500, error: "server_error", description: d) }
    /// The state store is unreachable: 503 so a relying party (and a balancer) retries,
    /// instead of 500 which says the gateway is broken.
    static func storeUnavailable() -> OAuthFailure {
        OAuthFailure(status: 503, error: "server_error", description: "temporarily unavailable, try again", reason: "store_unavailable",
                     retryAfter: 5)
    }
    /// Too many failed client authentications from this source or for this client (RFC 6585
    /// section 4). RFC 6749 has no error code for it; `temporarily_unavailable` says what to do.
    static func rateLimited(retryAfter: Int) -> OAuthFailure {
        OAuthFailure(status: 429, error: "temporarily_unavailable",
                     description: "too many failed client authentications; retry after \(retryAfter) s", reason: "rate_limited",
                     retryAfter: retryAfter)
    }

    var response: HTTPResponse {
        var r = HTTPResponses.json(status: status, ["error": .string(error), "error_description": .string(description)])
        if let challenge { r.headers.append(HTTPHeader(name: "WWW-Authenticate", value: challenge)) }
        if let retryAfter { r.headers.append(HTTPHeader(name: "Retry-After", value: String(retryAfter))) }
        return r
    }
}

enum HTTPResponses {
    /// RFC 6749 section 5.1: token responses must not be cached.
    static func json(status: Int, _ value: JSONValue, cacheable: Bool = false) -> HTTPResponse {
        var headers = [HTTPHeader(name: "Content-Type", value: "application/json")]
        if cacheable {
            headers.append(HTTPHeader(name: "Cache-Control", value: "public, max-age=300"))
        } else {
            headers.append(HTTPHeader(name: "Cache-Control", value: "no-store"))
            headers.append(HTTPHeader(name: "Pragma", value: "no-cache"))
        }
        return HTTPResponse(status: status, headers: headers, body: value.encoded())
    }

    static func redirect(_ location: String, headers: [HTTPHeader] = []) -> HTTPResponse {
        HTTPResponse(status: 302, headers: [
            HTTPHeader(name: "Location", value: location),
            HTTPHeader(name: "Cache-Control", value: "no-store"),
            HTTPHeader(name: "Referrer-Policy", value: "no-referrer"),
        ] + headers)
    }

    static let formPostScript = "document.forms[0].submit();"
    static let formPostScriptHash = "sha256-" + Base64URL.standard(SHA256.hash(data: Array(formPostScript.utf8)))

    /// OAuth 2.0 Form Post Response Mode: an auto-submitting form; the button is for browsers
    /// without JavaScript. The CSP allows exactly this one inline script.
    static func formPost(action: String, parameters: [(String, String)], headers: [HTTPHeader] = []) -> HTTPResponse {
        var html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Accedi con TS-CNS</title></head>\n"
        html += "<body><form method=\"post\" action=\"\(escape(action))\">\n"
        for (name, value) in parameters {
            html += "<input type=\"hidden\" name=\"\(escape(name))\" value=\"\(escape(value))\">\n"
        }
        html += "<noscript><button type=\"submit\">Continua / Continue</button></noscript></form>\n"
        html += "<script>\(formPostScript)</script></body></html>\n"
        return HTTPResponse(status: 200, headers: [
            HTTPHeader(name: "Content-Type", value: "text/html; charset=utf-8"),
            HTTPHeader(name: "Cache-Control", value: "no-store"),
            // frame-ancestors: a page that submits a code must not run inside another site's frame.
            HTTPHeader(name: "Content-Security-Policy", value: "default-src 'none'; script-src '\(formPostScriptHash)'; frame-ancestors 'none'"),
            HTTPHeader(name: "Referrer-Policy", value: "no-referrer"),
        ] + headers, body: Array(html.utf8))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

extension Base64URL {
    /// Standard padded Base64 (for CSP hashes).
    static func standard(_ bytes: some Sequence<UInt8>) -> String {
        var s = encode(bytes).replacing("-", with: "+").replacing("_", with: "/")
        while s.utf8.count % 4 != 0 { s += "=" }
        return s
    }
}

/// application/x-www-form-urlencoded output (WHATWG URL section 5.2), for redirect queries.
enum FormEncoder {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            if Base64URL.isAlphabet(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "*") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else if b == UInt8(ascii: " ") {
                out += "+"
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xf)]], as: UTF8.self)
            }
        }
        return out
    }

    /// `base` with the parameters appended to its query (RFC 6749 section 3.1.2: keep the registered query).
    static func append(_ pairs: [(String, String)], to base: String) -> String {
        base + (base.contains("?") ? "&" : "?") + encode(pairs)
    }
}

/// The `Cookie` header's pairs (RFC 6265 section 5.4), first value of a name wins.
enum CookieHeader {
    static func value(named name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for piece in header.split(separator: ";") {
            let trimmed = piece.trimmingPrefix(while: { $0 == " " })
            if let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == name {
                return trimmed[trimmed.index(after: eq)...].trimmingScalars { $0 == " " || $0 == "\"" }
            }
        }
        return nil
    }
}
