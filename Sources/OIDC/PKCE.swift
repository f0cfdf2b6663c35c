import Crypto

/// Proof Key for Code Exchange (RFC 7636). Only S256: `plain` offers nothing against a
/// leaked authorization request and the provider does not advertise it.
public enum PKCE {
    /// RFC 7636 section 4.1 / 4.2: 43 to 128 characters of [A-Za-z0-9-._~].
    public static func isValidVerifierSyntax(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (43...128).contains(bytes.count) && bytes.allSatisfy(isUnreserved)
    }

    /// An S256 challenge is base64url(SHA-256) = exactly 43 characters.
    public static func isValidChallengeSyntax(_ text: String) -> Bool {
        text.utf8.count == 43 && Base64URL.decode(text)?.count == 32
    }

    public static func s256Challenge(for verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }

    public static func verify(verifier: String, challenge: String) -> Bool {
        guard isValidVerifierSyntax(verifier) else { return false }
        return ConstantTime.equals(Array(s256Challenge(for: verifier).utf8), Array(challenge.utf8))
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        Base64URL.isAlphabet(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "~")
    }
}

enum ConstantTime {
    static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// Random identifiers (codes, session ids, jti) and their stored form.
public enum Token {
    /// 256 bits from the system CSPRNG, base64url.
    public static func random(bytes: Int = 32) -> String {
        Base64URL.encode(randomBytes(bytes))
    }

    /// Bytes from the system CSPRNG, eight per draw (one getrandom call each, not one per byte).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count + 7)
        while out.count < count {
            withUnsafeBytes(of: generator.next()) { out += $0 }
        }
        out.removeLast(out.count - count)
        return out
    }

    /// What the store keeps instead of a bearer value: a leaked database yields no usable code or session.
    public static func storageHash(_ value: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(value.utf8)))
    }
}
