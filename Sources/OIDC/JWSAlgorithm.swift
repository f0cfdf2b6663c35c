/// The JWS algorithms (RFC 7518, RFC 8037) the provider signs with or accepts from clients.
public enum JWSAlgorithm: String, Sendable, CaseIterable, Codable {
    case es256 = "ES256"
    case rs256 = "RS256"
    /// Accepted on client assertions only; our own keys sign RS256 (OIDC Core section 15.1 requires it).
    case ps256 = "PS256"
    case edDSA = "EdDSA"

    /// The algorithms our own keys can sign with.
    public static let signing: [JWSAlgorithm] = [.es256, .rs256, .edDSA]

    /// The JWK key type (RFC 7517) that must carry this algorithm: checking it stops an
    /// attacker from choosing an algorithm the key was never meant for.
    var keyType: String {
        switch self {
        case .es256: "EC"
        case .rs256, .ps256: "RSA"
        case .edDSA: "OKP"
        }
    }
}

/// A JOSE failure: a code for tests and the OAuth error mapping, a reason for logs.
public struct JOSEError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case malformed, unsupportedAlgorithm, unknownKey, badSignature, invalidKey, expired, notYetValid, claim
    }
    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (a: JOSEError, b: JOSEError) -> Bool { a.code == b.code }
    public var description: String { "\(code.rawValue): \(reason)" }
}
