import HTTP1
import Crypto
import FoundationEssentials

extension Provider {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// OIDC Core section 9 / RFC 6749 section 2.3: exactly one authentication method per request.
    ///
    /// Every failure (`invalid_client`) counts against the source address and, when the request
    /// names a registered client, against that client id (`ClientAuthLimiter`). Past the limit
    /// the answer is 429 with Retry-After, and the PBKDF2 of a person-chosen secret is not run;
    /// a check that costs nothing (a generated secret's hash, a secret that verified before, a
    /// signed assertion) still runs, so a client whose id is being flooded keeps working with
    /// its right credentials, and only a wrong one is refused.
    func authenticateClient(_ request: HTTPRequest, form: [String: String], endpoint: Endpoint, info: ProviderRequestInfo,
                            audit draft: AuditDraft) throws(OAuthFailure) -> ClientRegistration {
        let source = ClientAuthLimiter.sourceKey(info.clientAddress)
        let at = now().timeIntervalSince1970
        var named: ClientRegistration?
        var decision = ClientAuthLimiter.Decision.allowed
        do {
            return try verifyClient(request, form: form, endpoint: endpoint, audit: draft) { client in
                named = client
                decision = clientAuthLimiter.check(source: source, clientID: client?.id, now: at)
                return decision
            }
        } catch {
            guard error.error == "invalid_client" else { throw error }
            clientAuthLimiter.recordFailure(source: source, clientID: named?.id, now: at)
            if case .limited(let seconds) = decision {
                log("oidc_client_auth_limited", ["client_id": named?.id ?? "", "retry_after": "\(seconds)"])
                throw .rateLimited(retryAfter: seconds)
            }
            throw error
        }
    }

    /// The checks of `authenticateClient`; `gate` is asked, once the registered client (or
    /// none) is known, whether this source and client are past their limit.
    private func verifyClient(_ request: HTTPRequest, form: [String: String], endpoint: Endpoint, audit draft: AuditDraft,
                              gate: (ClientRegistration?) -> ClientAuthLimiter.Decision) throws(OAuthFailure) -> ClientRegistration {
        var methods: [ClientAuthMethod] = []
        var basic: (id: String, secret: String)?
        if let authorization = request.header("Authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "basic" else {
                throw .invalidClient("unsupported Authorization scheme", basic: true)
            }
            guard let data = Data(base64Encoded: parts[1].trimmingWhitespace()),
                  let decoded = String(data: data, encoding: .utf8), let colon = decoded.firstIndex(of: ":"),
                  // RFC 6749 section 2.3.1: both halves are form-urlencoded before Base64.
                  let id = FormURLEncoding.decodeStrict(Array("x=\(decoded[..<colon])".utf8))?.first?.value,
                  let secret = FormURLEncoding.decodeStrict(Array("x=\(decoded[decoded.index(after: colon)...])".utf8))?.first?.value
            else { throw .invalidClient("malformed Basic credentials", basic: true) }
            basic = (id, secret)
            methods.append(.clientSecretBasic)
        }
        if form["client_secret"] != nil { methods.append(.clientSecretPost) }
        if form["client_assertion"] != nil || form["client_assertion_type"] != nil { methods.append(.privateKeyJWT) }
        guard methods.count <= 1 else { throw .invalidRequest("more than one client authentication method") }
        let method = methods.first ?? .none
        let basicUsed = method == .clientSecretBasic

        let clientID: String
        switch method {
        case .clientSecretBasic: clientID = basic!.id
        case .privateKeyJWT:
            guard form["client_assertion_type"] == Self.assertionType, let assertion = form["client_assertion"] else {
                throw .invalidClient("client_assertion_type must be \(Self.assertionType)", basic: false)
            }
            guard let iss = try? JWS.decode(assertion).claims["iss"]?.stringValue else {
                throw .invalidClient("malformed client assertion", basic: false)
            }
            clientID = iss
        default:
            guard let id = form["client_id"] else { throw .invalidClient("client authentication required", basic: false) }
            clientID = id
        }
        if let bodyID = form["client_id"], bodyID != clientID { throw .invalidClient("client_id does not match the credentials", basic: basicUsed) }
        let known = configuration.client(clientID)
        let limited: Int? = switch gate(known) {
        case .allowed: nil
        case .limited(let seconds): seconds
        }
        guard let client = known else { throw .invalidClient("unknown client", basic: basicUsed) }
        draft.clientID = client.id
        guard client.authMethods.contains(method) else {
            throw .invalidClient("\(method.rawValue) is not allowed for this client", basic: basicUsed)
        }
        // RFC 7662 section 2.1: introspection is for authenticated callers; discovery says so.
        guard method != .none || endpoint != .introspect else {
            throw .invalidClient("introspection needs client authentication", basic: false)
        }
        switch method {
        case .clientSecretBasic, .clientSecretPost:
            let secret = method == .clientSecretBasic ? basic!.secret : form["client_secret"] ?? ""
            let verified: Bool
            if let limited {
                // Past the limit: no PBKDF2 run for anyone.
                guard let cheap = secrets.verifyIfCheap(secret, client: client) else { throw .rateLimited(retryAfter: limited) }
                verified = cheap
            } else {
                verified = secrets.verify(secret, client: client)
            }
            guard verified else { throw .invalidClient("client authentication failed", basic: basicUsed) }
        case .privateKeyJWT:
            try verifyAssertion(form["client_assertion"] ?? "", client: client, endpoint: endpoint)
        case .none:
            break
        }
        return client
    }

    /// The store's key for one assertion of one client: a hash of the length-prefixed pair, so
    /// two pairs can never share a key ("a" + "bc" is not "ab" + "c") and the key holds no NUL.
    /// (It used to be `client + NUL + jti`; libpq takes parameters as C strings, so on PostgreSQL
    /// every assertion of a client was cut to `client` and the second one was a "replay".)
    public static func assertionReplayKey(clientID: String, jti: String) -> String {
        let id = Array(clientID.utf8)
        var input = withUnsafeBytes(of: UInt64(id.count).bigEndian, Array.init)
        input += id + Array(jti.utf8)
        return "jwt:" + Base64URL.encode(SHA256.hash(data: input))
    }

    /// RFC 7523 section 3 and OIDC Core section 9: iss = sub = client_id, aud names us,
    /// short-lived, jti never seen before.
    func verifyAssertion(_ assertion: String, client: ClientRegistration, endpoint: Endpoint) throws(OAuthFailure) {
        let decoded: JWS.Decoded
        do {
            decoded = try JWS.verify(assertion, keys: client.keys)
            try TimeClaims().check(decoded.claims, now: clock)
        } catch {
            throw .invalidClient("client assertion: \(error.reason)", basic: false)
        }
        let claims = decoded.claims
        guard claims["iss"]?.stringValue == client.id, claims["sub"]?.stringValue == client.id else {
            throw .invalidClient("client assertion iss and sub must be the client_id", basic: false)
        }
        let audiences: [String] = claims["aud"]?.stringValue.map { [$0] } ?? claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let accepted = [configuration.issuer, url(endpoint), url(.token)]
        guard audiences.contains(where: accepted.contains) else {
            throw .invalidClient("client assertion aud must name this provider", basic: false)
        }
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty, let exp = claims["exp"]?.intValue else {
            throw .invalidClient("client assertion needs jti and exp", basic: false)
        }
        guard exp - clock <= 3600 else { throw .invalidClient("client assertion lives too long", basic: false) }
        do {
            guard try store.useAssertion(key: Self.assertionReplayKey(clientID: client.id, jti: jti), expiresAt: exp + 60, now: clock) else {
                throw OAuthFailure.invalidClient("client assertion replayed", basic: false)
            }
        } catch let error as OAuthFailure {
            throw error
        } catch {
            throw .storeUnavailable()
        }
    }
}
