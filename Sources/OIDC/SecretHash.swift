import FoundationEssentials
import Crypto
import _CryptoExtras

/// A client secret as `[[client]] secret_hash` stores it, in PHC string format (salt and hash in
/// unpadded standard Base64, as the PHC format specifies). The algorithm name says which kind
/// of secret it is:
///
/// - `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`: a secret a person chose (`hash-secret`
///   reading it from standard input). It may be guessable, so the hash is slow on purpose:
///   PBKDF2-HMAC-SHA256, at least 210,000 iterations (the OWASP recommendation).
/// - `$hmac-sha256$<salt>$<hash>`: a secret `hash-secret --generate` made, 256 bits from the
///   system CSPRNG. Nobody can guess it, so a slow hash buys nothing, and costs every
///   `/token`, `/introspect` and `/revoke` call (anyone can make the gateway run it with a
///   client id from an authorize URL): HMAC-SHA256 keyed with the 16-byte salt, one pass.
///
/// Existing PBKDF2 values keep working unchanged.
public struct SecretHash: Sendable, Equatable, CustomStringConvertible {
    public static let minimumIterations = 210_000
    public static let defaultIterations = 600_000

    public enum Scheme: Sendable, Equatable {
        case pbkdf2SHA256(iterations: Int)
        case hmacSHA256
    }

    public let scheme: Scheme
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// True for the hash of a person's secret: verifying costs the PBKDF2 rounds.
    public var isSlow: Bool {
        if case .pbkdf2SHA256 = scheme { return true }
        return false
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case format, weakIterations(Int)
        public var description: String {
            switch self {
            case .format:
                "not a PHC string like $pbkdf2-sha256$i=600000$<salt>$<hash> or $hmac-sha256$<salt>$<hash> (make one with `cns-gateway hash-secret`)"
            case .weakIterations(let i): "\(i) iterations is below the minimum of \(SecretHash.minimumIterations)"
            }
        }
    }

    public init(phc: String) throws(ParseError) {
        let parts = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].isEmpty else { throw .format }
        switch parts[1] {
        case "pbkdf2-sha256":
            guard parts.count == 5, parts[2].hasPrefix("i="), let iterations = Int(parts[2].dropFirst(2)), iterations > 0,
                  let salt = Self.b64decode(parts[3]), salt.count >= 16,
                  let hash = Self.b64decode(parts[4]), hash.count >= 32
            else { throw .format }
            guard iterations >= Self.minimumIterations else { throw .weakIterations(iterations) }
            self.init(scheme: .pbkdf2SHA256(iterations: iterations), salt: salt, hash: hash)
        case "hmac-sha256":
            guard parts.count == 4, let salt = Self.b64decode(parts[2]), salt.count >= 16,
                  let hash = Self.b64decode(parts[3]), hash.count == 32
            else { throw .format }
            self.init(scheme: .hmacSHA256, salt: salt, hash: hash)
        default:
            throw .format
        }
    }

    /// The slow hash of a secret a person chose, with a fresh 16-byte salt.
    public static func make(secret: String, iterations: Int = defaultIterations) -> SecretHash {
        let salt = Token.randomBytes(16)
        return SecretHash(scheme: .pbkdf2SHA256(iterations: iterations), salt: salt,
                          hash: derive(secret, salt: salt, iterations: iterations))
    }

    /// The fast hash of a secret `Token.random()` made (256 random bits). Never for a secret a
    /// person chose: that is what `make(secret:)` is for.
    public static func makeForGenerated(secret: String) -> SecretHash {
        let salt = Token.randomBytes(16)
        return SecretHash(scheme: .hmacSHA256, salt: salt, hash: mac(secret, salt: salt))
    }

    init(scheme: Scheme, salt: [UInt8], hash: [UInt8]) {
        self.scheme = scheme
        self.salt = salt
        self.hash = hash
    }

    public var description: String {
        switch scheme {
        case .pbkdf2SHA256(let iterations):
            "$pbkdf2-sha256$i=\(iterations)$\(Self.b64encode(salt))$\(Self.b64encode(hash))"
        case .hmacSHA256:
            "$hmac-sha256$\(Self.b64encode(salt))$\(Self.b64encode(hash))"
        }
    }

    /// A PBKDF2 hash costs its rounds: callers cache a positive answer (see `SecretVerifier`).
    public func matches(_ secret: String) -> Bool {
        switch scheme {
        case .pbkdf2SHA256(let iterations):
            ConstantTime.equals(Self.derive(secret, salt: salt, iterations: iterations, length: hash.count), hash)
        case .hmacSHA256:
            ConstantTime.equals(Self.mac(secret, salt: salt), hash)
        }
    }

    static func derive(_ secret: String, salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        // deriveKey only throws for parameters we never pass (zero rounds, bad lengths).
        let key = try? KDF.Insecure.PBKDF2.deriveKey(from: Array(secret.utf8), salt: salt, using: .sha256,
                                                     outputByteCount: length, unsafeUncheckedRounds: iterations)
        return key.map { k in k.withUnsafeBytes { [UInt8]($0) } } ?? []
    }

    static func mac(_ secret: String, salt: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(secret.utf8), using: SymmetricKey(data: salt)))
    }

    static func b64encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacing("=", with: "")
    }

    static func b64decode(_ text: Substring) -> [UInt8]? {
        var s = String(text)
        guard !s.isEmpty, !s.contains("=") else { return nil }
        while s.utf8.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { [UInt8]($0) }
    }
}
