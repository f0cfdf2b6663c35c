import HTTP1
import CNS
import FoundationEssentials

/// A validated authorization request (OIDC Core section 3.1.2.1).
struct AuthorizationRequest {
    var client: ClientRegistration
    var redirectURI: String
    var responseMode: String
    var state: String?
    var nonce: String?
    var scopes: [String]
    var codeChallenge: String?
    var prompt: Set<String>
    var maxAge: Int?
    /// The cards this login takes: the client's `card_kinds`, narrowed by `acr_values` naming
    /// the `acr` of some of them.
    var cardKinds: Set<CardKind>
    /// The parameters as received, to carry the request from the public listener to the login listener.
    var parameters: [(String, String)]
}

/// An authorization error that goes back to the client's redirect URI (RFC 6749 section 4.1.2.1).
struct AuthorizationFailure: Error {
    var error: String
    var description: String
}

extension Provider {
    static let maxParameterLength = 2048

    func authorize(_ request: HTTPRequest, info: ProviderRequestInfo) -> OIDCOutcome {
        let pairs: [(name: String, value: String)]?
        if request.method == "POST" {
            let type = request.header("Content-Type")?.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() }
            pairs = type == "application/x-www-form-urlencoded" ? FormURLEncoding.decodeStrict(request.body) : nil
        } else {
            pairs = FormURLEncoding.decodeStrict(Array((request.query ?? "").utf8))
        }
        guard let pairs else {
            return requestError("malformed_request", "the authorization request's parameters are not well-formed form encoding", info: info)
        }
        var values: [String: [String]] = [:]
        for (name, value) in pairs { values[name, default: []].append(value) }

        // Until client and redirect URI are known good, nothing may be redirected (RFC 6749 section 4.1.2.1).
        guard let clientIDs = values["client_id"], clientIDs.count == 1, let client = configuration.client(clientIDs[0]) else {
            return requestError("unknown_client", "the service (client_id) is missing or not registered with this gateway", info: info)
        }
        guard let redirects = values["redirect_uri"], redirects.count == 1, client.redirectURIs.contains(redirects[0]) else {
            return requestError("invalid_redirect_uri", "the return address (redirect_uri) is missing or not registered for \(client.name)",
                                info: info, clientID: client.id)
        }
        let redirectURI = redirects[0]
        let state = values["state"]?.first
        var responseMode = values["response_mode"]?.first ?? "query"
        if !["query", "form_post"].contains(responseMode) { responseMode = "query" }
        let base = AuthorizationRequest(client: client, redirectURI: redirectURI, responseMode: responseMode, state: state, nonce: nil,
                                        scopes: [], codeChallenge: nil, prompt: [], maxAge: nil,
                                        cardKinds: client.cardKinds.intersection(configuration.cardKinds),
                                        parameters: pairs.map { ($0.name, $0.value) })
        let validated: AuthorizationRequest
        do {
            validated = try validate(values, base: base)
        } catch {
            log("oidc_authorize_refused", ["client_id": client.id, "error": error.error])
            auditAttempt(info: info, clientID: client.id, reason: error.error, durable: false)
            return .response(errorRedirect(base, error: error.error, description: error.description))
        }

        if !info.requestsClientCertificate {
            // The public listener: send the browser on to the listener that asks for the card.
            let continueURL = configuration.loginBaseURL + Endpoint.authorize.rawValue + "?" + FormEncoder.encode(validated.parameters)
            if configuration.interstitial && !validated.prompt.contains("none") {
                return .page(.landing(clientName: client.name, continueURL: continueURL, cardKinds: validated.cardKinds), status: 200,
                             headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
            }
            return .response(HTTPResponses.redirect(continueURL))
        }
        return login(validated, info: info)
    }

    func validate(_ values: [String: [String]], base: AuthorizationRequest) throws(AuthorizationFailure) -> AuthorizationRequest {
        var request = base
        for (name, list) in values {
            if list.count > 1 { throw AuthorizationFailure(error: "invalid_request", description: "parameter \(name) repeated") }
            if list[0].utf8.count > Self.maxParameterLength {
                throw AuthorizationFailure(error: "invalid_request", description: "parameter \(name) too long")
            }
        }
        func one(_ name: String) -> String? { values[name]?.first }
        if let mode = one("response_mode"), !["query", "form_post"].contains(mode) {
            throw AuthorizationFailure(error: "invalid_request", description: "response_mode must be query or form_post")
        }
        if one("request") != nil { throw AuthorizationFailure(error: "request_not_supported", description: "request objects are not supported") }
        if one("request_uri") != nil {
            throw AuthorizationFailure(error: "request_uri_not_supported", description: "request_uri is not supported")
        }
        guard one("response_type") == "code" else {
            throw AuthorizationFailure(error: "unsupported_response_type", description: "only response_type=code is supported")
        }
        let requested = (one("scope") ?? "").split(separator: " ").map(String.init)
        guard requested.contains("openid") else {
            throw AuthorizationFailure(error: "invalid_scope", description: "scope must include openid")
        }
        // Scopes the client may not have, or that do not exist, are dropped (RFC 6749 section 3.3).
        var scopes: [String] = []
        for scope in requested where request.client.scopes.contains(scope) && !scopes.contains(scope) { scopes.append(scope) }
        request.scopes = scopes

        if let method = one("code_challenge_method"), method != "S256" {
            throw AuthorizationFailure(error: "invalid_request", description: "code_challenge_method must be S256")
        }
        if let challenge = one("code_challenge") {
            guard PKCE.isValidChallengeSyntax(challenge) else {
                throw AuthorizationFailure(error: "invalid_request", description: "code_challenge is not an S256 challenge")
            }
            guard one("code_challenge_method") == "S256" else {
                // RFC 7636 section 4.3 would default to plain, which we refuse.
                throw AuthorizationFailure(error: "invalid_request", description: "code_challenge_method=S256 is required")
            }
            request.codeChallenge = challenge
        } else if request.client.isPublic || request.client.requirePKCE {
            throw AuthorizationFailure(error: "invalid_request", description: "PKCE (code_challenge with S256) is required for this client")
        }
        request.nonce = one("nonce")
        let prompt = Set((one("prompt") ?? "").split(separator: " ").map(String.init))
        if prompt.contains("none") && prompt.count > 1 {
            throw AuthorizationFailure(error: "invalid_request", description: "prompt=none cannot be combined with other values")
        }
        request.prompt = prompt
        if let maxAge = one("max_age") {
            guard let value = Int(maxAge), value >= 0 else {
                throw AuthorizationFailure(error: "invalid_request", description: "max_age must be a non-negative integer")
            }
            request.maxAge = value
        }
        // acr_values (OIDC Core section 3.1.2.1) naming the acr of one card asks for that card
        // only; values this provider does not issue are ignored, as the spec lets it.
        let asked = Set((one("acr_values") ?? "").split(separator: " ").compactMap { configuration.cardKind(forACR: String($0)) })
        if !asked.isEmpty { request.cardKinds.formIntersection(asked) }
        if request.cardKinds.isEmpty {
            let wanted = (asked.isEmpty ? request.client.cardKinds : asked).map(\.rawValue).sorted().joined(separator: ", ")
            throw AuthorizationFailure(error: "unmet_authentication_requirements",
                                       description: "this service is not registered for the card asked for (\(wanted))")
        }
        return request
    }

    /// A request no redirect may answer; recorded as one attempt of `event`.
    func requestError(_ reason: String, _ detail: String, info: ProviderRequestInfo, clientID: String = "", event: String = "login") -> OIDCOutcome {
        log("oidc_\(event == "login" ? "authorize" : event)_refused", ["reason": reason])
        auditAttempt(info: info, clientID: clientID, reason: reason, event: event, durable: false)
        return .page(.requestError(reason: reason, detail: detail), status: 400, headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
    }

    /// The redirect carrying an error back to the client, in its response mode, with `iss` (RFC 9207).
    func errorRedirect(_ request: AuthorizationRequest, error: String, description: String) -> HTTPResponse {
        var parameters = [("error", error), ("error_description", description)]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return respond(request, parameters: parameters, headers: [])
    }

    func errorURL(_ request: AuthorizationRequest, error: String, description: String) -> String {
        var parameters = [("error", error), ("error_description", description)]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return FormEncoder.append(parameters, to: request.redirectURI)
    }

    func respond(_ request: AuthorizationRequest, parameters: [(String, String)], headers: [HTTPHeader]) -> HTTPResponse {
        if request.responseMode == "form_post" {
            return HTTPResponses.formPost(action: request.redirectURI, parameters: parameters, headers: headers)
        }
        return HTTPResponses.redirect(FormEncoder.append(parameters, to: request.redirectURI), headers: headers)
    }

    // MARK: the card

    /// The reason code of a good card of a kind the service does not take.
    public static let cardKindNotAllowed = "card_kind_not_allowed"

    func login(_ request: AuthorizationRequest, info: ProviderRequestInfo) -> OIDCOutcome {
        let card = info.card ?? CardLogin(reason: "no_certificate", subject: nil)
        let now = clock
        let client = request.client
        guard card.accepted, let subject = card.subject else {
            let record = AuditRecord(time: nowMilliseconds, clientAddress: info.clientAddress, clientID: client.id, reason: card.reason,
                                     codiceFiscale: card.subject?.codiceFiscale, certificateSerial: card.certificateSerial,
                                     certificateIssuer: card.certificateIssuer, via: card.via, proxyAddress: card.proxyAddress,
                                     cardKind: card.cardKind?.rawValue)
            // Anyone can arrive without a card, or with one no trusted CA issued: these are
            // sampled and counted, not written one by one (AuditThrottle).
            do { try audit(record, durable: false) } catch { return storeFailure(error, operation: "audit") }
            log("oidc_login", ["client_id": client.id, "reason": card.reason])
            if request.prompt.contains("none") {
                return .response(errorRedirect(request, error: "login_required", description: "the card was not accepted"))
            }
            let back = errorURL(request, error: "access_denied", description: "card not accepted: \(card.reason)")
            return .page(.loginFailed(reason: card.reason, clientName: client.name, backURL: back, cardKind: card.cardKind,
                                      acceptedKinds: request.cardKinds), status: 403,
                         headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
        }
        // A good card of a kind this service (or this request's acr_values) does not take:
        // refused before any session or code, with a page that names the card it wants.
        guard request.cardKinds.contains(subject.cardKind) else {
            let reason = Self.cardKindNotAllowed
            auditAttempt(info: info, clientID: client.id, reason: reason, subject: subject, durable: true)
            log("oidc_login", ["client_id": client.id, "reason": reason, "card_kind": subject.cardKind.rawValue])
            let description = "this service does not accept the \(subject.cardKind.rawValue) card (accepted: "
                + request.cardKinds.map(\.rawValue).sorted().joined(separator: ", ") + ")"
            if request.prompt.contains("none") {
                return .response(errorRedirect(request, error: "unmet_authentication_requirements", description: description))
            }
            let back = errorURL(request, error: "unmet_authentication_requirements", description: description)
            return .page(.loginFailed(reason: reason, clientName: client.name, backURL: back, cardKind: subject.cardKind,
                                      acceptedKinds: request.cardKinds), status: 403,
                         headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
        }

        var headers: [HTTPHeader] = []
        let session: SessionRecord
        let sessionWrite: SessionWrite
        do {
            var existing: SessionRecord?
            let cookie = CookieHeader.value(named: Self.sessionCookie, in: info.cookieHeader)
            if let cookie, let found = try store.session(idHash: Token.storageHash(cookie)) {
                if found.isValid(now: now) && found.thumbprint == subject.thumbprint {
                    existing = found
                } else {
                    // Expired, or another card: that session ends here.
                    try store.deleteSession(idHash: found.idHash)
                }
            }
            let fresh = request.prompt.contains("login") || existing.map { s in request.maxAge.map { now - s.authTime > $0 } ?? false } ?? true
            if let existing, !fresh {
                let idle = min(now + configuration.sessionIdleTimeout, existing.absoluteExpiresAt)
                sessionWrite = .touch(idHash: existing.idHash, lastSeen: now, idleExpiresAt: idle)
                session = existing
            } else if request.prompt.contains("none") {
                auditAttempt(info: info, clientID: client.id, reason: "login_required", subject: subject, durable: true)
                return .response(errorRedirect(request, error: "login_required", description: "no single sign-on session for this card"))
            } else {
                // The card proved itself when it signed this connection's handshake: that is the authentication time.
                let handshake = card.handshakeAt.map { Self.milliseconds($0) } ?? nowMilliseconds
                switch handshakeFreshness(request, handshake: handshake) {
                case .fresh:
                    break
                case .reconnect(let url):
                    log("oidc_reauthenticate", ["client_id": client.id])
                    return .response(HTTPResponses.redirect(url, headers: [HTTPHeader(name: "Connection", value: "close")]))
                case .stale:
                    auditAttempt(info: info, clientID: client.id, reason: "stale_handshake", subject: subject, durable: true)
                    log("oidc_login", ["client_id": client.id, "reason": "stale_handshake"])
                    let back = errorURL(request, error: "login_required", description: "the card did not sign a new connection")
                    return .page(.loginFailed(reason: "stale_handshake", clientName: client.name, backURL: back,
                                              cardKind: subject.cardKind, acceptedKinds: request.cardKinds), status: 403,
                                 headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
                }
                let cookieValue = Token.random()
                let absolute = now + configuration.sessionMaxLifetime
                let authTime = min(now, Int(handshake / 1000))
                session = SessionRecord(idHash: Token.storageHash(cookieValue), sid: Token.random(bytes: 16), thumbprint: subject.thumbprint,
                                        subject: subject, authTime: authTime, createdAt: now, lastSeen: now,
                                        idleExpiresAt: min(now + configuration.sessionIdleTimeout, absolute), absoluteExpiresAt: absolute)
                sessionWrite = .create(session, replacing: existing?.idHash)
                headers.append(HTTPHeader(name: "Set-Cookie", value:
                    "\(Self.sessionCookie)=\(cookieValue); Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=\(configuration.sessionMaxLifetime)"))
            }
        } catch {
            return storeFailure(error, operation: "session")
        }

        let code = Token.random()
        let record = AuthorizationCodeRecord(
            codeHash: Token.storageHash(code), clientID: client.id, redirectURI: request.redirectURI, scopes: request.scopes,
            nonce: request.nonce, codeChallenge: request.codeChallenge, authTime: session.authTime, sid: session.sid,
            subject: subject, acr: configuration.acr(for: subject.cardKind), issuedAt: now, expiresAt: now + configuration.codeLifetime)
        do {
            // Session, code and audit record: durable before the redirect leaves.
            try store.completeLogin(sessionWrite, code: record, audit: AuditRecord(
                time: nowMilliseconds, clientAddress: info.clientAddress, clientID: client.id, reason: "ok",
                codiceFiscale: subject.codiceFiscale, certificateSerial: subject.certificateSerial,
                certificateIssuer: subject.certificateIssuer, via: card.via, proxyAddress: card.proxyAddress,
                cardKind: subject.cardKind.rawValue))
        } catch {
            return storeFailure(error, operation: "code")
        }
        log("oidc_login", ["client_id": client.id, "reason": "ok", "card_kind": subject.cardKind.rawValue])
        var parameters = [("code", code)]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return .response(respond(request, parameters: parameters, headers: headers))
    }

    /// One audit record for an attempt that ended before a code was issued; a store failure is
    /// logged (the page the citizen gets does not depend on it). `durable` when an accepted
    /// card (or its session) made the attempt; otherwise it is throttled.
    func auditAttempt(info: ProviderRequestInfo, clientID: String, reason: String, subject: LoginSubject? = nil, event: String = "login",
                      durable: Bool) {
        do {
            try audit(AuditRecord(time: nowMilliseconds, clientAddress: info.clientAddress, clientID: clientID, reason: reason,
                                  codiceFiscale: subject?.codiceFiscale, certificateSerial: subject?.certificateSerial,
                                  certificateIssuer: subject?.certificateIssuer, event: event,
                                  via: info.card?.via, proxyAddress: info.card?.proxyAddress,
                                  cardKind: subject?.cardKind.rawValue ?? info.card?.cardKind?.rawValue), durable: durable)
        } catch {
            log("oidc_store_error", ["operation": "audit", "error": error.description])
        }
    }

    func storeFailure(_ error: StoreError, operation: String) -> OIDCOutcome {
        log("oidc_store_error", ["operation": operation, "error": error.description])
        return .page(.requestError(reason: "server_error", detail: "the login could not be recorded; please try again"), status: 503,
                     headers: [HTTPHeader(name: "Cache-Control", value: "no-store")])
    }
}
