public import CNS
import FoundationEssentials
import Posix

/// How a client authenticates at the token, introspection and revocation endpoints
/// (OIDC Core section 9; `none` = a public client, which must use PKCE).
public enum ClientAuthMethod: String, Sendable, CaseIterable {
    case clientSecretBasic = "client_secret_basic"
    case clientSecretPost = "client_secret_post"
    case privateKeyJWT = "private_key_jwt"
    case none
}

public enum SubjectType: String, Sendable {
    /// `sub` = the Codice Fiscale.
    case `public`
    /// `sub` differs per sector (OIDC Core section 8.1), so services cannot correlate users.
    case pairwise
}

/// One registered relying party (`[[client]]`).
public struct ClientRegistration: Sendable {
    public var id: String
    public var name: String
    public var secretHash: SecretHash?
    /// Keys for private_key_jwt (inline `jwks`, or fetched from `jwks_uri` when the service is built).
    public var keys: [VerificationKey]
    public var jwksURI: String?
    public var authMethods: Set<ClientAuthMethod>
    public var redirectURIs: [String]
    public var postLogoutRedirectURIs: [String]
    public var scopes: [String]
    public var claims: Set<String>
    public var idTokenAlgorithm: JWSAlgorithm
    public var subjectType: SubjectType
    /// The host pairwise subjects are computed for.
    public var sectorIdentifier: String
    public var accessTokenLifetime: Int
    public var idTokenLifetime: Int
    public var requirePKCE: Bool
    /// RFC 8705 section 3: this client's access tokens carry `cnf.x5t#S256` of the card that
    /// logged in, and are honoured only on a connection that presents that card. For a client
    /// running in the citizen's browser; a service's back end has no card to present.
    public var certificateBoundAccessTokens: Bool
    /// The cards this service accepts (`card_kinds`); a login with another is refused with
    /// `card_kind_not_allowed`.
    public var cardKinds: Set<CardKind>

    public init(id: String, name: String? = nil, secretHash: SecretHash? = nil, keys: [VerificationKey] = [], jwksURI: String? = nil,
                authMethods: Set<ClientAuthMethod>? = nil, redirectURIs: [String], postLogoutRedirectURIs: [String] = [],
                scopes: [String] = ClaimCatalog.supportedScopes, claims: Set<String> = Set(ClaimCatalog.supportedClaims),
                idTokenAlgorithm: JWSAlgorithm = .es256, subjectType: SubjectType = .public, sectorIdentifier: String? = nil,
                accessTokenLifetime: Int = 300, idTokenLifetime: Int = 300, requirePKCE: Bool = false,
                certificateBoundAccessTokens: Bool = false, cardKinds: Set<CardKind> = Set(CardKind.allCases)) {
        self.cardKinds = cardKinds
        self.id = id
        self.name = name ?? id
        self.secretHash = secretHash
        self.keys = keys
        self.jwksURI = jwksURI
        if let authMethods {
            self.authMethods = authMethods
        } else if secretHash != nil {
            self.authMethods = [.clientSecretBasic, .clientSecretPost]
        } else if !keys.isEmpty || jwksURI != nil {
            self.authMethods = [.privateKeyJWT]
        } else {
            self.authMethods = [.none]
        }
        self.redirectURIs = redirectURIs
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.scopes = scopes
        self.claims = claims
        self.idTokenAlgorithm = idTokenAlgorithm
        self.subjectType = subjectType
        self.sectorIdentifier = sectorIdentifier ?? redirectURIs.first.flatMap { URLComponents(string: $0)?.host } ?? id
        self.accessTokenLifetime = accessTokenLifetime
        self.idTokenLifetime = idTokenLifetime
        self.requirePKCE = requirePKCE
        self.certificateBoundAccessTokens = certificateBoundAccessTokens
    }

    public var isPublic: Bool { authMethods == [.none] }
}

/// The provider-wide settings (`[oidc]`), as plain values.
public struct ProviderConfiguration: Sendable {
    /// The public base URL, without a trailing slash (OIDC Discovery section 3: `iss` compares exactly).
    public var issuer: String
    /// Where `/authorize` continues on the listener that asks for the card.
    public var loginBaseURL: String
    /// Show the "Accedi con TS-CNS" page before asking for the card.
    public var interstitial: Bool
    /// Signs access tokens; the default ID-token algorithm.
    public var signingAlgorithm: JWSAlgorithm
    public var codeLifetime: Int
    public var sessionIdleTimeout: Int
    public var sessionMaxLifetime: Int
    /// `acr` of a login with a CNS (`[oidc] acr`).
    public var acr: String
    /// `acr` of a login with a CIE (`[oidc] acr_cie`).
    public var acrCIE: String
    /// The cards the gateway accepts (`[profile]`): what discovery advertises.
    public var cardKinds: Set<CardKind>
    public var clients: [ClientRegistration]
    /// How many failed client authentications pass before 429 (`[oidc] client_auth_*`).
    public var clientAuthLimits: ClientAuthLimiter.Settings
    /// `[audit] retention_days`: audit records older than this many days are purged; 0 keeps them.
    public var auditRetentionDays: Int
    /// `[audit] unauthenticated_failures_per_minute`.
    public var auditThrottle: AuditThrottle.Settings

    public init(issuer: String, loginBaseURL: String? = nil, interstitial: Bool = true, signingAlgorithm: JWSAlgorithm = .es256,
                codeLifetime: Int = 60, sessionIdleTimeout: Int = 1800, sessionMaxLifetime: Int = 28_800,
                acr: String = ProviderConfiguration.defaultACR, acrCIE: String = ProviderConfiguration.defaultCIEACR,
                cardKinds: Set<CardKind> = Set(CardKind.allCases), clients: [ClientRegistration],
                clientAuthLimits: ClientAuthLimiter.Settings = ClientAuthLimiter.Settings(), auditRetentionDays: Int = 0,
                auditThrottle: AuditThrottle.Settings = AuditThrottle.Settings()) {
        self.acrCIE = acrCIE
        self.cardKinds = cardKinds
        self.issuer = Self.trimmed(issuer)
        self.loginBaseURL = Self.trimmed(loginBaseURL ?? issuer)
        self.interstitial = interstitial
        self.signingAlgorithm = signingAlgorithm
        self.codeLifetime = codeLifetime
        self.sessionIdleTimeout = sessionIdleTimeout
        self.sessionMaxLifetime = sessionMaxLifetime
        self.acr = acr
        self.clients = clients
        self.clientAuthLimits = clientAuthLimits
        self.auditRetentionDays = auditRetentionDays
        self.auditThrottle = auditThrottle
    }

    public static let defaultACR = "urn:cns-gateway:acr:ts-cns"
    public static let defaultCIEACR = "urn:cns-gateway:acr:cie"

    /// The `acr` a login with `kind` gets.
    public func acr(for kind: CardKind) -> String {
        switch kind {
        case .cns: acr
        case .cie: acrCIE
        }
    }

    /// The card an `acr_values` entry asks for; nil for a value this provider does not issue.
    public func cardKind(forACR value: String) -> CardKind? {
        CardKind.allCases.first { acr(for: $0) == value }
    }

    static func trimmed(_ url: String) -> String {
        var s = url
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    public func client(_ id: String) -> ClientRegistration? { clients.first { $0.id == id } }

    /// The issuer's path, the prefix of every endpoint path ("" for an issuer at the host root).
    public var pathPrefix: String { URLComponents(string: issuer)?.path ?? "" }

    /// Every algorithm some key must exist for.
    public var requiredAlgorithms: Set<JWSAlgorithm> {
        Set(clients.map(\.idTokenAlgorithm)).union([signingAlgorithm])
    }
}

/// The rules every registered redirect URI (and issuer) must follow.
public enum RedirectURIRule {
    /// Nil when acceptable, else why not: absolute https, or http only to a loopback IP literal
    /// (RFC 8252 section 7.3, for tests); no fragment (RFC 6749 section 3.1.2); no user info.
    public static func problem(_ text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            return "\"\(text)\" is not an absolute URL"
        }
        if components.fragment != nil { return "\"\(text)\" must not contain a fragment" }
        if components.user != nil || components.password != nil { return "\"\(text)\" must not contain user information" }
        switch scheme {
        case "https": return nil
        case "http": return isLoopback(host) ? nil : "\"\(text)\" must use https (http only for 127.0.0.0/8 and [::1])"
        default: return "\"\(text)\" must use https"
        }
    }

    /// RFC 8252 section 8.3: loopback by IP literal only. A name (`localhost`, or
    /// `127.evil.example`, which a prefix test took for loopback) is resolved by whoever
    /// resolves it; only 127.0.0.0/8 and ::1 are sure never to leave the machine.
    static func isLoopback(_ host: String) -> Bool {
        var literal = Substring(host)
        if literal.hasPrefix("[") && literal.hasSuffix("]") { literal = literal.dropFirst().dropLast() }
        guard let bytes = SocketAddress.parseIP(String(literal)) else { return false }
        return bytes.count == 4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }
}
