import JSON
import HTTP1
import Crypto
import FoundationEssentials

extension Provider {
    /// The token endpoint (OIDC Core section 3.1.3): one code, once, for the client it was issued to.
    func token(_ request: HTTPRequest, info: ProviderRequestInfo, audit draft: AuditDraft) throws(OAuthFailure) -> HTTPResponse {
        let form = try formParameters(request)
        let client = try authenticateClient(request, form: form, endpoint: .token, info: info, audit: draft)
        draft.authenticated = true
        guard form["grant_type"] == "authorization_code" else {
            throw OAuthFailure(status: 400, error: "unsupported_grant_type", description: "only authorization_code is supported")
        }
        guard let code = form["code"], !code.isEmpty else { throw .invalidRequest("code is required") }
        let now = clock
        // Client, redirect URI and PKCE are checked on the stored code before it is spent, in
        // the store's transaction: a presenter who fails them leaves the code to its owner.
        var refusal: OAuthFailure?
        var presented: AuthorizationCodeRecord?
        let redemption: CodeRedemption
        do {
            redemption = try store.redeemCode(hash: Token.storageHash(code), now: now) { record in
                presented = record
                refusal = Self.codeCheck(record, client: client, form: form)
                return refusal?.reason
            }
        } catch {
            log("oidc_store_error", ["operation": "redeem", "error": error.description])
            throw .storeUnavailable()
        }
        draft.subject = presented?.subject
        let record: AuthorizationCodeRecord
        switch redemption {
        case .redeemed(let r): record = r
        case .refused:
            throw refusal ?? .invalidGrant("the code was not issued for this request", reason: "code_refused")
        case .replayed(let owner, let revoked):
            log("oidc_code_replayed", ["client_id": client.id, "code_client_id": owner, "revoked_tokens": "\(revoked)"])
            throw .invalidGrant("the code was already used; the tokens it issued are revoked", reason: "code_replayed")
        case .expired: throw .invalidGrant("the code expired", reason: "code_expired")
        case .unknown: throw .invalidGrant("unknown code", reason: "unknown_code")
        }
        guard let accessSigner = keys.signer(configuration.signingAlgorithm), let idSigner = keys.signer(client.idTokenAlgorithm) else {
            throw .serverError("no signing key")
        }

        let sub = subjectIdentifier(record.subject, for: client)
        let jti = Token.random(bytes: 16)
        let accessExpiry = now + client.accessTokenLifetime
        // RFC 9068 section 2.2.
        var accessClaims: [String: JSONValue] = [
            "iss": .string(configuration.issuer), "sub": .string(sub), "aud": .string(client.id), "client_id": .string(client.id),
            "exp": .int(accessExpiry), "iat": .int(now), "jti": .string(jti), "scope": .string(record.scopes.joined(separator: " ")),
            "auth_time": .int(record.authTime), "acr": .string(record.acr), "amr": ClaimCatalog.amr(for: record.subject.cardKind),
        ]
        // RFC 8705 section 3.1: bound to the card only for a client registered for it, because
        // a bound token is refused wherever the card is not presented (Provider+Resources.swift).
        if client.certificateBoundAccessTokens {
            accessClaims["cnf"] = ["x5t#S256": .string(record.subject.x5tS256)]
        }
        let accessToken: String
        do {
            accessToken = try JWS.sign(claims: .object(accessClaims), key: accessSigner, type: "at+jwt")
        } catch {
            throw .serverError("signing failed")
        }

        var idClaims: [String: JSONValue] = [
            "iss": .string(configuration.issuer), "sub": .string(sub), "aud": .string(client.id), "azp": .string(client.id),
            "exp": .int(now + client.idTokenLifetime), "iat": .int(now), "auth_time": .int(record.authTime),
            "acr": .string(record.acr), "amr": ClaimCatalog.amr(for: record.subject.cardKind), "sid": .string(record.sid),
            "at_hash": .string(Self.leftHalfHash(accessToken, algorithm: client.idTokenAlgorithm)),
        ]
        if let nonce = record.nonce { idClaims["nonce"] = .string(nonce) }
        for (name, value) in ClaimCatalog.userClaims(for: record.subject, scopes: record.scopes, allowed: client.claims, now: self.now()) {
            idClaims[name] = value
        }
        let idToken: String
        do {
            idToken = try JWS.sign(claims: .object(idClaims), key: idSigner)
        } catch {
            throw .serverError("signing failed")
        }

        let issued = IssuedTokenRecord(jti: jti, clientID: client.id, codeHash: record.codeHash, sub: sub, scopes: record.scopes,
                                       subject: record.subject, issuedAt: now, expiresAt: accessExpiry)
        do {
            guard try store.saveToken(issued) else { throw OAuthFailure.invalidGrant("the code was replayed", reason: "code_replayed") }
        } catch let error as OAuthFailure {
            throw error
        } catch {
            throw .storeUnavailable()
        }
        log("oidc_token_issued", ["client_id": client.id])
        return HTTPResponses.json(status: 200, [
            "access_token": .string(accessToken), "token_type": "Bearer", "expires_in": .int(client.accessTokenLifetime),
            "id_token": .string(idToken), "scope": .string(record.scopes.joined(separator: " ")),
        ])
    }

    /// Whether the authenticated `client` presenting `form` may have the code (RFC 6749 section
    /// 4.1.3, RFC 7636 section 4.6); nil when it may. Pure: it runs inside the store's transaction.
    static func codeCheck(_ record: AuthorizationCodeRecord, client: ClientRegistration, form: [String: String]) -> OAuthFailure? {
        guard record.clientID == client.id else { return .invalidGrant("the code was issued to another client", reason: "code_client_mismatch") }
        guard form["redirect_uri"] == record.redirectURI else {
            return .invalidGrant("redirect_uri does not match the authorization request", reason: "redirect_uri_mismatch")
        }
        if let challenge = record.codeChallenge {
            guard let verifier = form["code_verifier"], PKCE.verify(verifier: verifier, challenge: challenge) else {
                return .invalidGrant("PKCE verification failed", reason: "pkce_failed")
            }
        } else if form["code_verifier"] != nil {
            // A verifier without a challenge means the request was tampered with (RFC 9700 section 2.1.1).
            return .invalidGrant("code_verifier sent but no code_challenge was", reason: "pkce_failed")
        }
        return nil
    }

    /// OIDC Core section 3.1.3.6: the left half of the hash the signing algorithm uses
    /// (SHA-512 for Ed25519), base64url.
    static func leftHalfHash(_ value: String, algorithm: JWSAlgorithm) -> String {
        let bytes = Array(value.utf8)
        let digest: [UInt8] = algorithm == .edDSA ? Array(SHA512.hash(data: bytes)) : Array(SHA256.hash(data: bytes))
        return Base64URL.encode(digest.prefix(digest.count / 2))
    }
}
