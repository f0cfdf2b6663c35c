public import JSON

/// JWS compact serialization (RFC 7515 section 7.1) for JWTs (RFC 7519).
public enum JWS {
    /// Signs `claims` with `key`; the header gets `alg` and `kid` from the key, plus `typ`.
    public static func sign(claims: JSONValue, key: SigningKey, type: String = "JWT") throws(JOSEError) -> String {
        let header: JSONValue = ["alg": .string(key.algorithm.rawValue), "kid": .string(key.kid), "typ": .string(type)]
        let input = Base64URL.encode(header.encoded()) + "." + Base64URL.encode(claims.encoded())
        let signature = try key.sign(Array(input.utf8))
        return input + "." + Base64URL.encode(signature)
    }

    /// A compact JWS split and decoded, not yet verified.
    public struct Decoded: Sendable {
        public var header: [String: JSONValue]
        public var claims: [String: JSONValue]
        public var algorithm: JWSAlgorithm
        public var signingInput: [UInt8]
        public var signature: [UInt8]

        public var kid: String? { header["kid"]?.stringValue }
        public var type: String? { header["typ"]?.stringValue }
    }

    public static func decode(_ token: String) throws(JOSEError) -> Decoded {
        // Tokens are bounded so a hostile input cannot make us decode megabytes.
        guard token.utf8.count <= 16_384 else { throw JOSEError(.malformed, "token too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JOSEError(.malformed, "not a compact JWS (three parts)") }
        guard let headerBytes = Base64URL.decode(parts[0]), let header = JSONValue.decode(headerBytes)?.objectValue else {
            throw JOSEError(.malformed, "header is not base64url JSON")
        }
        guard let alg = header["alg"]?.stringValue else { throw JOSEError(.malformed, "header has no alg") }
        // "none" and anything else we do not implement is refused here, before any key is looked at.
        guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw JOSEError(.unsupportedAlgorithm, "alg \"\(alg)\" is not accepted") }
        // RFC 7515 section 4.1.11: a critical extension we do not understand makes the JWS invalid.
        if header["crit"] != nil { throw JOSEError(.malformed, "crit header parameters are not supported") }
        guard let payloadBytes = Base64URL.decode(parts[1]), let claims = JSONValue.decode(payloadBytes)?.objectValue else {
            throw JOSEError(.malformed, "payload is not base64url JSON object")
        }
        guard let signature = Base64URL.decode(parts[2]), !signature.isEmpty else {
            throw JOSEError(.malformed, "signature is not base64url")
        }
        let input = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        return Decoded(header: header, claims: claims, algorithm: algorithm, signingInput: input, signature: signature)
    }

    /// Decodes and verifies against `keys`: the key named by `kid`, or when the header names
    /// none, any key that accepts the algorithm.
    public static func verify(_ token: String, keys: [VerificationKey], allowed: Set<JWSAlgorithm> = Set(JWSAlgorithm.allCases)) throws(JOSEError) -> Decoded {
        let decoded = try decode(token)
        guard allowed.contains(decoded.algorithm) else {
            throw JOSEError(.unsupportedAlgorithm, "alg \(decoded.algorithm.rawValue) is not allowed here")
        }
        let candidates = decoded.kid.map { kid in keys.filter { $0.kid == kid } } ?? keys
        guard candidates.contains(where: { $0.accepts(decoded.algorithm) }) else {
            throw JOSEError(.unknownKey, "no key for kid \(decoded.kid ?? "(none)") and alg \(decoded.algorithm.rawValue)")
        }
        for key in candidates where key.verify(decoded.signature, over: decoded.signingInput, algorithm: decoded.algorithm) {
            return decoded
        }
        throw JOSEError(.badSignature, "signature does not verify")
    }
}

/// Time claims (RFC 7519 section 4.1.4, 4.1.5) with a small leeway for clock skew.
public struct TimeClaims: Sendable {
    public var leeway: Int = 60

    public init(leeway: Int = 60) { self.leeway = leeway }

    public func check(_ claims: [String: JSONValue], now: Int, requireExpiry: Bool = true) throws(JOSEError) {
        if let exp = claims["exp"] {
            guard let value = exp.intValue else { throw JOSEError(.claim, "exp is not a NumericDate") }
            if now >= value + leeway { throw JOSEError(.expired, "token expired") }
        } else if requireExpiry {
            throw JOSEError(.claim, "exp is missing")
        }
        if let nbf = claims["nbf"] {
            guard let value = nbf.intValue else { throw JOSEError(.claim, "nbf is not a NumericDate") }
            if now + leeway < value { throw JOSEError(.notYetValid, "token not yet valid") }
        }
    }
}
