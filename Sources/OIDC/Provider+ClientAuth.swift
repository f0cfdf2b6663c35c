import HTTP1
import Crypto
import FoundationEssentials

extension Provider {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// OIDC Core section 9 / RFC 6749 section 2.3: exactly one authentication method per request.
    /// `audiences` are the endpoint URLs a client assertion may be addressed to.
    func authenticateClient(_ request: HTTPRequest, form: [String: String], endpoint: Endpoint,
                            audit draft: AuditDraft) throws(OAuthFailure) -> ClientRegistration {
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
        guard let client = configuration.client(clientID) else { throw .invalidClient("unknown client", basic: basicUsed) }
        draft.clientID = client.id
        guard client.authMethods.contains(method) else {
            throw .invalidClient("\(method.rawValue) is not allowed for this client", basic: basicUsed)
        }
        // RFC 7662 section 2.1: introspection is for authenticated callers; discovery says so.
        guard method != .none || endpoint != .introspect else {
            throw .invalidClient("introspection needs client authentication", basic: false)
        }
        switch method {
        case .clientSecretBasic:
            guard secrets.verify(basic!.secret, client: client) else { throw .invalidClient("client authentication failed", basic: true) }
        case .clientSecretPost:
            guard secrets.verify(form["client_secret"] ?? "", client: client) else { throw .invalidClient("client authentication failed", basic: false) }
        case .privateKeyJWT:
            try verifyAssertion(form["client_assertion"] ?? "", client: client, endpoint: endpoint)
        case .none:
            break
        }
        return client
    }

    /// The store's key for one assertion of one client: a hash of the length-prefixed pair, so
    /// two pairs can never share a key (\"a\" + \"bc\" is not \"ab\" + \"c\") and the key holds no NUL.
    /// (It used to be `client + NUL + jti`; libpq takes parameters as C strings, so on PostgreSQL
    /// every assertion of a client was cut to `client` and the second one was a \"replay\".)
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
