import JSON
import CNS
import FoundationEssentials
import OIDC
import Store

/// `[oidc]`, `[[client]]` and `[store]`: the OpenID Connect provider's settings, validated
/// strictly like the rest of the file (every problem reported with its key path).
public struct OIDCSettings: Sendable {
    var provider: ProviderConfiguration
    /// How long a rotated-out key stays published (`[oidc] key_rotation_overlap`, seconds).
    var keyRotationOverlap: Int
    var keyFile: String
    /// With a shared store: the highest key-set version this instance has used (SharedSecrets.swift).
    var secretsVersionFile: String
    /// The SQLite file (the default store, and where `audit` looks when the store is SQLite).
    var databasePath: String
    /// `[store] url`: the SQLite file or the shared PostgreSQL database.
    var store: StoreLocation
    /// `[store] key_encryption_key_file`: seals the signing keys kept in a shared database.
    var keyEncryptionKeyFile: String?
    /// client id -> `jwks_uri`, fetched when the service is built (start and each SIGHUP).
    var jwksURIs: [String: String]

    static let oidcKeys: Set<String> = [
        "issuer", "login_base_url", "interstitial", "signing_alg", "subject_type", "acr", "acr_cie", "code_lifetime",
        "access_token_lifetime", "id_token_lifetime", "session_idle_timeout", "session_max_lifetime", "key_rotation_overlap",
        "client_auth_failures_per_source", "client_auth_failures_per_client", "client_auth_failure_window",
    ]
    static let storeKeys: Set<String> = ["url", "password_file", "pool_size", "key_encryption_key_file"]
    static let auditKeys: Set<String> = ["retention_days", "unauthenticated_failures_per_minute"]
    /// 24 months, what the SPID rules ask identity providers to keep of their access logs.
    static let defaultAuditRetentionDays = 730
    static let clientKeys: Set<String> = [
        "id", "name", "secret_hash", "jwks", "jwks_uri", "token_endpoint_auth_method", "redirect_uris", "post_logout_redirect_uris",
        "scopes", "claims", "id_token_signed_response_alg", "subject_type", "sector_identifier", "access_token_lifetime",
        "id_token_lifetime", "require_pkce", "tls_client_certificate_bound_access_tokens", "card_kinds",
    ]

    static func parse(_ root: [String: ConfigValue], reader: ConfigReader, stateDirectory: String?) -> OIDCSettings? {
        guard let oidc = reader.optionalTable(root, "oidc", allowed: oidcKeys) else {
            for key in ["client", "store", "audit"] where root[key] != nil {
                reader.problem(key, "[\(key)] needs an [oidc] section")
            }
            return nil
        }
        guard let stateDirectory else {
            reader.problem("server.state_dir", "required with [oidc]: keys and the database live there")
            return nil
        }
        let issuer = reader.string(oidc, "issuer", path: "oidc", default: nil) ?? ""
        if !issuer.isEmpty { checkBaseURL(issuer, keyPath: "oidc.issuer", reader: reader) }
        let loginBase = reader.string(oidc, "login_base_url", path: "oidc", default: issuer) ?? issuer
        if loginBase != issuer {
            checkBaseURL(loginBase, keyPath: "oidc.login_base_url", reader: reader)
            // Both listeners route the same endpoint paths: only scheme, host and port may differ.
            let trim: (String) -> String = { var p = URLComponents(string: $0)?.path ?? ""; while p.hasSuffix("/") { p.removeLast() }; return p }
            if trim(loginBase) != trim(issuer) {
                reader.problem("oidc.login_base_url", "must have the same path as the issuer (\"\(trim(issuer))\")")
            }
        }
        let interstitial = reader.bool(oidc, "interstitial", path: "oidc", default: true)
        let signing = algorithm(oidc, "signing_alg", path: "oidc", default: .es256, reader: reader)
        let defaultSubject = SubjectType(rawValue: reader.choice(oidc, "subject_type", path: "oidc", default: "public",
                                                                 choices: ["public", "pairwise"])) ?? .public
        let acr = reader.string(oidc, "acr", path: "oidc", default: ProviderConfiguration.defaultACR) ?? ProviderConfiguration.defaultACR
        let acrCIE = reader.string(oidc, "acr_cie", path: "oidc", default: ProviderConfiguration.defaultCIEACR)
            ?? ProviderConfiguration.defaultCIEACR
        // acr_values names a card by its acr: two cards with one acr could not be told apart.
        if acr == acrCIE { reader.problem("oidc.acr_cie", "must differ from oidc.acr (\"\(acr)\"): the acr says which card was used") }
        for (key, value) in [("acr", acr), ("acr_cie", acrCIE)] where value.isEmpty || value.contains(" " as Character) {
            reader.problem("oidc.\(key)", "must be a non-empty value without spaces (acr_values is space-separated)")
        }
        let codeLifetime = reader.int(oidc, "code_lifetime", path: "oidc", default: 60, range: 10...600)
        let accessLifetime = reader.int(oidc, "access_token_lifetime", path: "oidc", default: 300, range: 30...86_400)
        let idLifetime = reader.int(oidc, "id_token_lifetime", path: "oidc", default: 300, range: 30...86_400)
        let idle = reader.int(oidc, "session_idle_timeout", path: "oidc", default: 1800, range: 60...86_400)
        let maximum = reader.int(oidc, "session_max_lifetime", path: "oidc", default: 28_800, range: 60...604_800)
        if idle > maximum { reader.problem("oidc.session_idle_timeout", "must not exceed session_max_lifetime") }
        let overlap = reader.int(oidc, "key_rotation_overlap", path: "oidc", default: 172_800, range: 0...31_536_000)
        let defaults = ClientAuthLimiter.Settings()
        let authLimits = ClientAuthLimiter.Settings(
            perSource: reader.int(oidc, "client_auth_failures_per_source", path: "oidc", default: defaults.perSource, range: 1...100_000),
            perClient: reader.int(oidc, "client_auth_failures_per_client", path: "oidc", default: defaults.perClient, range: 1...100_000),
            window: reader.double(oidc, "client_auth_failure_window", path: "oidc", default: defaults.window, range: 1...86_400))

        var clients: [ClientRegistration] = []
        var jwksURIs: [String: String] = [:]
        var ids = Set<String>()
        for (i, table) in reader.tableArray(root, "client").enumerated() {
            let path = "client[\(i)]"
            let fields = reader.table(table, path: path, allowed: clientKeys)
            let id = reader.string(fields, "id", path: path, default: nil) ?? ""
            if id.isEmpty && fields["id"] != nil { reader.problem("\(path).id", "must not be empty") }
            if !ids.insert(id).inserted { reader.problem("\(path).id", "duplicate client id \"\(id)\"") }
            let name = reader.string(fields, "name", path: path, default: id) ?? id

            var secretHash: SecretHash?
            if let phc = reader.string(fields, "secret_hash", path: path, default: "") , !phc.isEmpty {
                do { secretHash = try SecretHash(phc: phc) } catch { reader.problem("\(path).secret_hash", error.description) }
            }
            var keys: [VerificationKey] = []
            if let text = reader.string(fields, "jwks", path: path, default: ""), !text.isEmpty {
                guard let json = JSONValue.decode(Array(text.utf8)), let list = json["keys"]?.arrayValue else {
                    reader.problem("\(path).jwks", "must be a JSON Web Key Set: {\"keys\": [...]}")
                    continue
                }
                for (k, jwk) in list.enumerated() {
                    do { keys.append(try VerificationKey(jwk: jwk)) } catch { reader.problem("\(path).jwks.keys[\(k)]", error.reason) }
                }
            }
            let jwksURI = reader.string(fields, "jwks_uri", path: path, default: "") ?? ""
            if !jwksURI.isEmpty {
                if let problem = RedirectURIRule.problem(jwksURI) { reader.problem("\(path).jwks_uri", problem) }
                jwksURIs[id] = jwksURI
            }
            var methods: Set<ClientAuthMethod>?
            if fields["token_endpoint_auth_method"] != nil {
                let chosen = reader.choice(fields, "token_endpoint_auth_method", path: path, default: "client_secret_basic",
                                           choices: ClientAuthMethod.allCases.map(\.rawValue))
                let method = ClientAuthMethod(rawValue: chosen) ?? .clientSecretBasic
                // A client registered for one secret method may use either: both carry the same secret.
                methods = method == .clientSecretBasic || method == .clientSecretPost ? [.clientSecretBasic, .clientSecretPost] : [method]
            }
            let effective = methods ?? (secretHash != nil ? [.clientSecretBasic, .clientSecretPost]
                                        : (!keys.isEmpty || !jwksURI.isEmpty) ? [.privateKeyJWT] : [.none])
            if effective.contains(.clientSecretBasic) && secretHash == nil {
                reader.problem("\(path).secret_hash", "required for client_secret_basic / client_secret_post (make one with `cns-gateway hash-secret`)")
            }
            if effective.contains(.privateKeyJWT) && keys.isEmpty && jwksURI.isEmpty {
                reader.problem("\(path).jwks", "private_key_jwt needs jwks or jwks_uri")
            }
            if secretHash != nil && effective.contains(.none) {
                reader.problem("\(path).token_endpoint_auth_method", "a public client (none) must not have a secret_hash")
            }

            let redirects = reader.stringArray(fields, "redirect_uris", path: path, default: [])
            if redirects.isEmpty { reader.problem("\(path).redirect_uris", "at least one redirect URI is required") }
            for (r, uri) in redirects.enumerated() {
                if let problem = RedirectURIRule.problem(uri) { reader.problem("\(path).redirect_uris[\(r)]", problem) }
            }
            let logoutRedirects = reader.stringArray(fields, "post_logout_redirect_uris", path: path, default: [])
            for (r, uri) in logoutRedirects.enumerated() {
                if let problem = RedirectURIRule.problem(uri) { reader.problem("\(path).post_logout_redirect_uris[\(r)]", problem) }
            }
            let scopes = reader.stringArray(fields, "scopes", path: path, default: ClaimCatalog.supportedScopes)
            for (s, scope) in scopes.enumerated() where !ClaimCatalog.supportedScopes.contains(scope) {
                reader.problem("\(path).scopes[\(s)]", "unknown scope \"\(scope)\"; known: \(ClaimCatalog.supportedScopes.joined(separator: ", "))")
            }
            if !scopes.contains("openid") { reader.problem("\(path).scopes", "must include \"openid\"") }
            let claims = reader.stringArray(fields, "claims", path: path, default: ClaimCatalog.supportedClaims)
            for (c, claim) in claims.enumerated() where !ClaimCatalog.supportedClaims.contains(claim) {
                reader.problem("\(path).claims[\(c)]", "unknown claim \"\(claim)\"")
            }
            var cardKinds = Set<CardKind>()
            for (k, name) in reader.stringArray(fields, "card_kinds", path: path, default: CardKind.allCases.map(\.rawValue)).enumerated() {
                if let kind = CardKind(rawValue: name) { cardKinds.insert(kind) } else {
                    reader.problem("\(path).card_kinds[\(k)]", "unknown card kind \"\(name)\"; known: cns, cie")
                }
            }
            if fields["card_kinds"] != nil && cardKinds.isEmpty { reader.problem("\(path).card_kinds", "must name at least one card kind") }
            let idAlgorithm = algorithm(fields, "id_token_signed_response_alg", path: path, default: signing, reader: reader)
            let subjectType = fields["subject_type"] == nil ? defaultSubject
                : SubjectType(rawValue: reader.choice(fields, "subject_type", path: path, default: "public", choices: ["public", "pairwise"])) ?? .public
            var sector = reader.string(fields, "sector_identifier", path: path, default: "") ?? ""
            if subjectType == .pairwise && sector.isEmpty {
                let hosts = Set(redirects.compactMap { URLComponents(string: $0)?.host?.lowercased() })
                if hosts.count > 1 {
                    reader.problem("\(path).sector_identifier", "redirect URIs span several hosts: name the sector for pairwise subjects")
                }
                sector = hosts.first ?? id
            }
            clients.append(ClientRegistration(
                id: id, name: name, secretHash: secretHash, keys: keys, jwksURI: jwksURI.isEmpty ? nil : jwksURI, authMethods: effective,
                redirectURIs: redirects, postLogoutRedirectURIs: logoutRedirects, scopes: scopes, claims: Set(claims),
                idTokenAlgorithm: idAlgorithm, subjectType: subjectType, sectorIdentifier: sector.isEmpty ? nil : sector,
                accessTokenLifetime: reader.int(fields, "access_token_lifetime", path: path, default: accessLifetime, range: 30...86_400),
                idTokenLifetime: reader.int(fields, "id_token_lifetime", path: path, default: idLifetime, range: 30...86_400),
                requirePKCE: reader.bool(fields, "require_pkce", path: path, default: false),
                certificateBoundAccessTokens: reader.bool(fields, "tls_client_certificate_bound_access_tokens", path: path, default: false),
                cardKinds: cardKinds.isEmpty ? Set(CardKind.allCases) : cardKinds))
        }

        var retentionDays = defaultAuditRetentionDays
        var auditThrottle = AuditThrottle.Settings()
        if let audit = reader.optionalTable(root, "audit", allowed: auditKeys) {
            // 0 keeps every record for ever.
            retentionDays = reader.int(audit, "retention_days", path: "audit", default: defaultAuditRetentionDays, range: 0...36_500)
            auditThrottle.perWindow = reader.int(audit, "unauthenticated_failures_per_minute", path: "audit",
                                                 default: auditThrottle.perWindow, range: 0...100_000)
        }

        var databasePath = "\(stateDirectory)/cns-gateway.sqlite"
        var store = StoreLocation.sqlite(path: databasePath)
        var keyEncryptionKeyFile: String?
        if let table = reader.optionalTable(root, "store", allowed: storeKeys) {
            let url = reader.string(table, "url", path: "store", default: "") ?? ""
            var urlProblem = false
            do {
                if !url.isEmpty { store = try StoreLocation.parse(url) }
            } catch {
                reader.problem("store.url", error.reason)
                urlProblem = true
            }
            let passwordFile = reader.path(table, "password_file", path: "store", required: false, mustBe: .file)
            let poolSize = reader.int(table, "pool_size", path: "store", default: 16, range: 1...64)
            keyEncryptionKeyFile = reader.path(table, "key_encryption_key_file", path: "store", required: false, mustBe: .file)
            switch store {
            case .sqlite(let path):
                databasePath = path
                for key in ["password_file", "pool_size", "key_encryption_key_file"] where table[key] != nil && !urlProblem {
                    reader.problem("store.\(key)", "only for a postgres:// store")
                }
            case .postgres(var target):
                if table["key_encryption_key_file"] == nil {
                    reader.problem("store.key_encryption_key_file", "required with a postgres:// store: it seals the signing keys kept there")
                }
                target.passwordFile = passwordFile
                target.poolSize = poolSize
                store = .postgres(target)
            }
        }
        return OIDCSettings(
            provider: ProviderConfiguration(issuer: issuer, loginBaseURL: loginBase, interstitial: interstitial, signingAlgorithm: signing,
                                            codeLifetime: codeLifetime, sessionIdleTimeout: idle, sessionMaxLifetime: maximum, acr: acr,
                                            acrCIE: acrCIE, clients: clients, clientAuthLimits: authLimits, auditRetentionDays: retentionDays,
                                            auditThrottle: auditThrottle),
            keyRotationOverlap: overlap, keyFile: "\(stateDirectory)/\(KeyFile.fileName)",
            secretsVersionFile: "\(stateDirectory)/\(SharedSecrets.versionFileName)", databasePath: databasePath, store: store,
            keyEncryptionKeyFile: keyEncryptionKeyFile, jwksURIs: jwksURIs)
    }

    private static func checkBaseURL(_ url: String, keyPath: String, reader: ConfigReader) {
        if let problem = RedirectURIRule.problem(url) {
            reader.problem(keyPath, problem)
        } else if let components = URLComponents(string: url), components.query != nil {
            reader.problem(keyPath, "\"\(url)\" must not contain a query")
        }
    }

    private static func algorithm(_ fields: [String: ConfigValue], _ key: String, path: String, default value: JWSAlgorithm,
                                  reader: ConfigReader) -> JWSAlgorithm {
        JWSAlgorithm(rawValue: reader.choice(fields, key, path: path, default: value.rawValue,
                                             choices: JWSAlgorithm.signing.map(\.rawValue))) ?? value
    }
}
