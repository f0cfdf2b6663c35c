public import JSON
import HTTP1
import FoundationEssentials

extension Provider {
    /// OpenID Connect RP-Initiated Logout 1.0: ends the session and returns to a registered
    /// post-logout redirect URI, or shows a page.
    func logout(_ request: HTTPRequest, info: ProviderRequestInfo) -> OIDCOutcome {
        let pairs: [(name: String, value: String)]?
        if request.method == "POST" {
            pairs = FormURLEncoding.decodeStrict(request.body)
        } else {
            pairs = FormURLEncoding.decodeStrict(Array((request.query ?? "").utf8))
        }
        guard let pairs, let form = try? unique(pairs) else {
            return requestError("malformed_request", "the logout request's parameters are not well-formed", info: info, event: "logout")
        }
        var client: ClientRegistration?
        var sid: String?
        if let hint = form["id_token_hint"] {
            // Our own ID token; it may have expired (section 2), but the signature must hold.
            guard let decoded = try? JWS.verify(hint, keys: keys.verificationKeys(now: clock), allowed: Set(JWSAlgorithm.signing)),
                  decoded.claims["iss"]?.stringValue == configuration.issuer, decoded.type != "at+jwt" else {
                return requestError("invalid_id_token_hint", "id_token_hint is not an ID token of this gateway", info: info, event: "logout")
            }
            let audience = decoded.claims["aud"]?.stringValue ?? decoded.claims["aud"]?.arrayValue?.first?.stringValue
            client = audience.flatMap(configuration.client)
            sid = decoded.claims["sid"]?.stringValue
        }
        if let id = form["client_id"] {
            guard let named = configuration.client(id), client == nil || client?.id == id else {
                return requestError("unknown_client", "client_id is unknown or does not match id_token_hint", info: info, event: "logout")
            }
            client = named
        }
        var target: String?
        if let uri = form["post_logout_redirect_uri"] {
            guard let client, client.postLogoutRedirectURIs.contains(uri) else {
                return requestError("invalid_redirect_uri", "post_logout_redirect_uri is not registered for this service", info: info,
                                    clientID: client?.id ?? "", event: "logout")
            }
            target = uri
        }

        var subject: LoginSubject?
        do {
            let cookie = CookieHeader.value(named: Self.sessionCookie, in: info.cookieHeader)
            if let cookie { subject = try store.session(idHash: Token.storageHash(cookie))?.subject }
            if let sid { try store.deleteSessions(sid: sid) }
            if let cookie { try store.deleteSession(idHash: Token.storageHash(cookie)) }
        } catch {
            return storeFailure(error, operation: "logout")
        }
        log("oidc_logout", ["client_id": client?.id ?? ""])
        // A logout that ended a session is the citizen's; one without a session anyone can send.
        auditAttempt(info: info, clientID: client?.id ?? "", reason: "ok", subject: subject, event: "logout", durable: subject != nil)
        let clear = HTTPHeader(name: "Set-Cookie", value: "\(Self.sessionCookie)=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
        if let target {
            var parameters: [(String, String)] = []
            if let state = form["state"] { parameters.append(("state", state)) }
            return .response(HTTPResponses.redirect(parameters.isEmpty ? target : FormEncoder.append(parameters, to: target), headers: [clear]))
        }
        return .page(.loggedOut(clientName: client?.name), status: 200, headers: [clear, HTTPHeader(name: "Cache-Control", value: "no-store")])
    }

    /// OIDC Discovery 1.0 section 3, plus the RFC 8414 / 7662 / 7009 / 8705 / 9207 members.
    public var discoveryDocument: JSONValue {
        let algorithms = Set(keys.keys.map(\.algorithm))
        let idAlgorithms = JWSAlgorithm.signing.filter(algorithms.contains).map { JSONValue.string($0.rawValue) }
        let subjectTypes = Set(configuration.clients.map(\.subjectType.rawValue)).union(["public"]).sorted().map(JSONValue.string)
        let authMethods: [JSONValue] = ClientAuthMethod.allCases.map { .string($0.rawValue) }
        let assertionAlgorithms: [JSONValue] = JWSAlgorithm.allCases.map { .string($0.rawValue) }
        let binding = configuration.clients.contains(where: \.certificateBoundAccessTokens)
        var document: [String: JSONValue] = [
            "issuer": .string(configuration.issuer),
            // Without the interstitial page the public /authorize would only redirect to the
            // login listener: services send the browser there directly, one TLS handshake and
            // one round trip fewer for the citizen (the public /authorize still answers).
            "authorization_endpoint": .string(configuration.interstitial ? url(.authorize)
                                              : configuration.loginBaseURL + Endpoint.authorize.rawValue),
            "token_endpoint": .string(url(.token)),
            "userinfo_endpoint": .string(url(.userinfo)),
            "jwks_uri": .string(url(.jwks)),
            "end_session_endpoint": .string(url(.logout)),
            "introspection_endpoint": .string(url(.introspect)),
            "revocation_endpoint": .string(url(.revoke)),
            "scopes_supported": .array(ClaimCatalog.supportedScopes.map(JSONValue.string)),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": .array(subjectTypes),
            "id_token_signing_alg_values_supported": .array(idAlgorithms),
            "token_endpoint_auth_methods_supported": .array(authMethods),
            "token_endpoint_auth_signing_alg_values_supported": .array(assertionAlgorithms),
            "introspection_endpoint_auth_methods_supported": .array(authMethods.filter { $0 != "none" }),
            "revocation_endpoint_auth_methods_supported": .array(authMethods),
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": .array(ClaimCatalog.supportedClaims.map(JSONValue.string)),
            "acr_values_supported": .array(configuration.cardKinds.sorted().map { .string(configuration.acr(for: $0)) }),
            "prompt_values_supported": ["none", "login"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            // RFC 8705 section 3.3: only as far as it is enforced, i.e. for the clients registered for it.
            "tls_client_certificate_bound_access_tokens": .bool(binding),
            "authorization_response_iss_parameter_supported": true,
            "ui_locales_supported": ["it", "en"],
        ]
        if binding && configuration.loginBaseURL != configuration.issuer {
            // RFC 8705 section 5: a bound token is usable where the card is presented, the login listener.
            document["mtls_endpoint_aliases"] = [
                "userinfo_endpoint": .string(configuration.loginBaseURL + Endpoint.userinfo.rawValue),
                "introspection_endpoint": .string(configuration.loginBaseURL + Endpoint.introspect.rawValue),
            ]
        }
        return .object(document)
    }
}
