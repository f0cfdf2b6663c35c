import FoundationEssentials
import Crypto
import _CryptoExtras

/// A client secret stored as a slow hash in PHC string format:
/// `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>` (salt and hash in unpadded standard Base64,
/// as the PHC string format specifies). PBKDF2-HMAC-SHA256 with at least 210,000 iterations
/// (the OWASP password storage recommendation).
public struct SecretHash: Sendable, Equatable, CustomStringConvertible {
    public static let minimumIterations = 210_000
    public static let defaultIterations = 600_000

    public let iterations: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case format, weakIterations(Int)
        public var description: String {
            switch self {
            case .format: "not a PHC string like $pbkdf2-sha256$i=600000$<salt>$<hash> (make one with `cns-gateway hash-secret`)"
            case .weakIterations(let i): "\(i) iterations is below the minimum of \(SecretHash.minimumIterations)"
            }
        }
    }

    public init(phc: String) throws(ParseError) {
        let parts = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "pbkdf2-sha256", parts[2].hasPrefix("i="),
              let iterations = Int(parts[2].dropFirst(2)), iterations > 0,
              let salt = Self.b64decode(parts[3]), salt.count >= 16,
              let hash = Self.b64decode(parts[4]), hash.count >= 32
        else { throw .format }
        guard iterations >= Self.minimumIterations else { throw .weakIterations(iterations) }
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    /// Hashes a new secret with a fresh 16-byte salt.
    public static func make(secret: String, iterations: Int = defaultIterations) -> SecretHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return SecretHash(iterations: iterations, salt: salt, hash: derive(secret, salt: salt, iterations: iterations))
    }

    init(iterations: Int, salt: [UInt8], hash: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    public var description: String {
        "$pbkdf2-sha256$i=\(iterations)$\(Self.b64encode(salt))$\(Self.b64encode(hash))"
    }

    /// Costs `iterations` HMAC rounds: callers cache a positive answer (see `SecretVerifier`).
    public func matches(_ secret: String) -> Bool {
        ConstantTime.equals(Self.derive(secret, salt: salt, iterations: iterations, length: hash.count), hash)
    }

    static func derive(_ secret: String, salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        // deriveKey only throws for parameters we never pass (zero rounds, bad lengths).
        let key = try? KDF.Insecure.PBKDF2.deriveKey(from: Array(secret.utf8), salt: salt, using: .sha256,
                                                     outputByteCount: length, unsafeUncheckedRounds: iterations)
        return key.map { k in k.withUnsafeBytes { [UInt8]($0) } } ?? []
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
