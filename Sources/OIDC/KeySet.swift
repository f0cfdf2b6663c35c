public import JSON

/// The provider's signing keys: the newest non-retired key of each algorithm signs; every key
/// not past its retirement is published, so tokens signed before a rotation still verify.
public struct KeySet: Sendable {
    public var keys: [SigningKey]

    public init(keys: [SigningKey]) { self.keys = keys }

    public func signer(_ algorithm: JWSAlgorithm) -> SigningKey? {
        keys.filter { $0.algorithm == algorithm && $0.retireAt == nil }.max { $0.created < $1.created }
    }

    public func published(now: Int) -> [SigningKey] {
        keys.filter { key in key.retireAt.map { $0 > now } ?? true }
    }

    /// RFC 7517 section 5.
    public func jwks(now: Int) -> JSONValue {
        ["keys": .array(published(now: now).map(\.publicJWK))]
    }

    public func verificationKeys(now: Int) -> [VerificationKey] { published(now: now).map(\.verificationKey) }

    /// Adds a fresh key for each algorithm in `algorithms` and retires the keys it replaces
    /// after `overlap` seconds; drops keys already past retirement.
    public func rotated(algorithms: Set<JWSAlgorithm>, now: Int, overlap: Int) throws(JOSEError) -> KeySet {
        var result: [SigningKey] = []
        for var key in keys {
            if let retireAt = key.retireAt, retireAt <= now { continue }
            if algorithms.contains(key.algorithm) && key.retireAt == nil { key.retireAt = now + overlap }
            result.append(key)
        }
        for algorithm in JWSAlgorithm.signing where algorithms.contains(algorithm) {
            result.append(try SigningKey.generate(algorithm, now: now))
        }
        return KeySet(keys: result)
    }

    /// A key for every algorithm in `required` that has no signer yet.
    public func completed(with required: Set<JWSAlgorithm>, now: Int) throws(JOSEError) -> (KeySet, added: Bool) {
        var result = self
        var added = false
        for algorithm in JWSAlgorithm.signing where required.contains(algorithm) && signer(algorithm) == nil {
            result.keys.append(try SigningKey.generate(algorithm, now: now))
            added = true
        }
        return (result, added)
    }
}
