import JSON
import HTTP1
import FoundationEssentials

extension Provider {
    /// Verifies one of our access tokens (RFC 9068 section 4) and finds its record.
    func verifyAccessToken(_ token: String) throws(OAuthFailure) -> (claims: [String: JSONValue], record: IssuedTokenRecord) {
        let decoded: JWS.Decoded
        do {
            decoded = try JWS.verify(token, keys: keys.verificationKeys(now: clock), allowed: Set(JWSAlgorithm.signing))
            try TimeClaims(leeway: 0).check(decoded.claims, now: clock)
        } catch {
            throw error.code == .expired ? .invalidToken("the access token expired", reason: "token_expired")
                : .invalidToken("the access token is not valid", reason: "token_invalid")
        }
        // The typ check keeps an ID token from being replayed as an access token.
        guard let type = decoded.type?.lowercased(), type == "at+jwt" || type == "application/at+jwt",
              decoded.claims["iss"]?.stringValue == configuration.issuer, let jti = decoded.claims["jti"]?.stringValue else {
            throw .invalidToken("not an access token of this provider", reason: "token_invalid")
        }
        let record: IssuedTokenRecord?
        do { record = try store.token(jti: jti) } catch { throw .storeUnavailable() }
        guard let record else { throw .invalidToken("the access token is unknown", reason: "token_unknown") }
        guard !record.revoked else { throw .invalidToken("the access token was revoked", reason: "token_revoked") }
        return (decoded.claims, record)
    }

    /// RFC 8705 section 3: a token carrying `cnf.x5t#S256` is honoured only on a connection
    /// that presented that certificate. Every token that says it is bound is checked, whoever
    /// it was issued to.
    func checkBinding(_ claims: [String: JSONValue], info: ProviderRequestInfo) throws(OAuthFailure) {
        guard let cnf = claims["cnf"] else { return }
        guard let bound = cnf["x5t#S256"]?.stringValue else {
            throw .invalidToken("the access token's confirmation method is not supported", reason: "token_binding_mismatch")
        }
        let presented = info.clientCertificateThumbprint.flatMap(Hex.decode).map { Base64URL.encode($0) }
        guard let presented, ConstantTime.equals(Array(presented.utf8), Array(bound.utf8)) else {
            throw .invalidToken("the access token is bound to a certificate this connection did not present",
                                reason: "token_binding_mismatch")
        }
    }

    /// OIDC Core section 5.3. The token comes in the Authorization header (RFC 6750 section 2.1)
    /// or, for POST, in the form body (section 2.2).
    func userinfo(_ request: HTTPRequest, info: ProviderRequestInfo, audit draft: AuditDraft) throws(OAuthFailure) -> HTTPResponse {
        var token: String?
        if let authorization = request.header("Authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .invalidToken("expected a Bearer token") }
            token = parts[1].trimmingWhitespace()
        }
        if request.method == "POST", request.header("Content-Type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true,
           let form = FormURLEncoding.decodeStrict(request.body), let bodyToken = form.first(where: { $0.name == "access_token" })?.value {
            guard token == nil else { throw .invalidRequest("more than one access token") }
            token = bodyToken
        }
        guard let token else {
            throw OAuthFailure(status: 401, error: "invalid_request", description: "an access token is required", challenge: "Bearer")
        }
        let (tokenClaims, record) = try verifyAccessToken(token)
        draft.clientID = record.clientID
        draft.subject = record.subject
        try checkBinding(tokenClaims, info: info)
        draft.authenticated = true
        guard let client = configuration.client(record.clientID) else { throw .invalidToken("the client is no longer registered") }
        var claims = ClaimCatalog.userClaims(for: record.subject, scopes: record.scopes, allowed: client.claims, now: now())
        claims["sub"] = .string(record.sub)
        return HTTPResponses.json(status: 200, .object(claims))
    }

    /// RFC 7662. A client may introspect only its own tokens; anything else is simply inactive.
    /// A bound token is active only for a caller presenting its certificate (RFC 8705 section 3).
    func introspect(_ request: HTTPRequest, info: ProviderRequestInfo, audit draft: AuditDraft) throws(OAuthFailure) -> HTTPResponse {
        let form = try formParameters(request)
        let client = try authenticateClient(request, form: form, endpoint: .introspect, info: info, audit: draft)
        draft.authenticated = true
        guard let token = form["token"] else { throw .invalidRequest("token is required") }
        let verified: (claims: [String: JSONValue], record: IssuedTokenRecord)
        do {
            verified = try verifyAccessToken(token)
        } catch {
            draft.reason = error.reason
            return HTTPResponses.json(status: 200, ["active": false])
        }
        let (claims, record) = verified
        guard record.clientID == client.id else {
            draft.reason = "token_of_another_client"
            return HTTPResponses.json(status: 200, ["active": false])
        }
        draft.subject = record.subject
        do {
            try checkBinding(claims, info: info)
        } catch {
            draft.reason = error.reason
            return HTTPResponses.json(status: 200, ["active": false])
        }
        var body: [String: JSONValue] = ["active": true, "token_type": "Bearer"]
        for name in ["scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "cnf", "auth_time", "acr"] {
            if let value = claims[name] { body[name] = value }
        }
        return HTTPResponses.json(status: 200, .object(body))
    }

    /// RFC 7009. Unknown or invalid tokens are answered 200, as section 2.2 says.
    func revoke(_ request: HTTPRequest, info: ProviderRequestInfo, audit draft: AuditDraft) throws(OAuthFailure) -> HTTPResponse {
        let form = try formParameters(request)
        let client = try authenticateClient(request, form: form, endpoint: .revoke, info: info, audit: draft)
        draft.authenticated = true
        guard let token = form["token"] else { throw .invalidRequest("token is required") }
        if let hint = form["token_type_hint"], hint != "access_token" && hint != "refresh_token" {
            throw OAuthFailure(status: 400, error: "unsupported_token_type", description: "unknown token_type_hint")
        }
        if let (_, record) = try? verifyAccessToken(token) {
            draft.subject = record.subject
            guard record.clientID == client.id else {
                throw OAuthFailure(status: 400, error: "unauthorized_client", description: "the token was issued to another client")
            }
            do { try store.revokeToken(jti: record.jti) } catch { throw .storeUnavailable() }
            log("oidc_token_revoked", ["client_id": client.id])
        }
        return HTTPResponse(status: 200, headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
    }
}
