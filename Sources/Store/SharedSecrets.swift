public import OIDC
import Crypto
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The local key that encrypts the provider's secrets in the shared database
/// (`[store] key_encryption_key_file`): 32 random bytes, written as 64 hex digits
/// (`openssl rand -hex 32`). Every instance has the same one; the database alone never
/// yields a signing key.
public struct KeyEncryptionKey: Sendable {
    let key: SymmetricKey
    /// Names the key without revealing it, so a row sealed with another key is reported as such.
    public let id: String

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public init(bytes: [UInt8]) {
        key = SymmetricKey(data: bytes)
        id = SHA256.hash(data: Array("cns-gateway kek id".utf8) + bytes).prefix(8).map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// Pure: the file's bytes to a key.
    public static func parse(_ data: [UInt8]) -> KeyEncryptionKey? {
        let text = String(decoding: data, as: UTF8.self).trimmingScalars(where: \.isWhitespaceOrNewline)
        guard text.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return KeyEncryptionKey(bytes: bytes)
    }

    /// The permission bits as `ls` and `chmod` write them: `0644`.
    static func octalMode(_ mode: mode_t) -> String {
        let digits = String(mode & 0o777, radix: 8)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    public static func load(path: String) throws(LoadError) -> KeyEncryptionKey {
        var info = stat()
        guard stat(path, &info) == 0 else { throw LoadError(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & 0o077 == 0 else {
            throw LoadError(path: path, reason: "mode \(octalMode(info.st_mode)) is too open: the key may have leaked; check, then chmod 600")
        }
        guard let data = FileManager.default.contents(atPath: path), let key = parse(Array(data)) else {
            throw LoadError(path: path, reason: "expected 64 hex digits (make one with: openssl rand -hex 32)")
        }
        return key
    }

    /// Bound into every seal, so a sealed value cannot be moved to another purpose.
    static let context = Array("cns-gateway provider secrets v1".utf8)

    func seal(_ plaintext: [UInt8]) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Self.context)
        guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
        return combined.base64EncodedString()
    }

    func open(_ sealed: String) throws -> Data {
        guard let data = Data(base64Encoded: sealed) else { throw CryptoKitError.incorrectParameterSize }
        return try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Self.context)
    }
}

public struct SharedSecretsError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The provider's signing keys and pairwise salt, kept once for every instance in the shared
/// database (one row, AES-256-GCM under the local key-encryption key). `keys rotate` on any
/// instance changes the row; every instance re-reads it at most `refreshInterval` seconds later.
public final class SharedSecrets: Sendable {
    let store: PostgresStore
    let kek: KeyEncryptionKey
    let refreshInterval: Double

    private struct Cache {
        var keys: KeySet
        var version: Int
        var fetchedAt: Double
        var refreshing = false
    }

    private let cache = Mutex<Cache?>(nil)
    private let lastLoaded = Mutex<ProviderSecrets?>(nil)

    private static let instances = Mutex<[PostgresTarget: SharedSecrets]>([:])

    /// The process-wide instance for `store`: its cache outlives a SIGHUP reload, so a reload
    /// while the database is away keeps serving with the keys read before.
    public static func open(store: PostgresStore, kek: KeyEncryptionKey) -> SharedSecrets {
        instances.withLock { instances in
            if let existing = instances[store.target], existing.kek.id == kek.id { return existing }
            let created = SharedSecrets(store: store, kek: kek)
            instances[store.target] = created
            return created
        }
    }

    /// The secrets read or written last by this process.
    public var lastKnown: ProviderSecrets? { lastLoaded.withLock { $0 } }

    public init(store: PostgresStore, kek: KeyEncryptionKey, refreshInterval: Double = 5) {
        self.store = store
        self.kek = kek
        self.refreshInterval = refreshInterval
    }

    /// Serializes writers (first start of several instances, two operators rotating at once).
    static let lockKey: Int64 = 0x636E_735F_6777_0002

    private func decode(version: String?, kekID: String?, sealed: String?) throws(SharedSecretsError) -> (ProviderSecrets, Int) {
        guard let sealed, let version = version.flatMap(Int.init) else { throw SharedSecretsError(reason: "provider_secrets row incomplete") }
        guard kekID == kek.id else {
            throw SharedSecretsError(reason: "the provider secrets in the database were sealed with another key-encryption key (\(kekID ?? "?"), this instance has \(kek.id))")
        }
        let plaintext: Data
        do { plaintext = try kek.open(sealed) } catch {
            throw SharedSecretsError(reason: "the provider secrets in the database do not decrypt: \(error)")
        }
        do {
            return (try KeyFile.decode(Array(plaintext), source: "database provider_secrets"), version)
        } catch {
            throw SharedSecretsError(reason: error.description)
        }
    }

    /// Reads, changes and writes the row under a lock; `change` returns nil to leave it as it is.
    private func update(_ change: (ProviderSecrets?) throws(SharedSecretsError) -> ProviderSecrets?) throws(SharedSecretsError) -> ProviderSecrets {
        let now = Int(Date().timeIntervalSince1970)
        do {
            return try store.withTransaction { db throws(StoreError) -> ProviderSecrets in
                try db.query("SELECT pg_advisory_xact_lock($1)", [.int(Self.lockKey)])
                let row = try db.query("SELECT version, kek_id, sealed FROM provider_secrets WHERE id = 1").first
                var current: (ProviderSecrets, Int)?
                do {
                    if let row { current = try decode(version: row[0], kekID: row[1], sealed: row[2]) }
                    guard let changed = try change(current?.0) else {
                        guard let current else { throw SharedSecretsError(reason: "no provider secrets") }
                        remember(current.0, version: current.1)
                        return current.0
                    }
                    let sealed = try kek.seal(KeyFile.encode(changed))
                    let version = (current?.1 ?? 0) + 1
                    try db.query("""
                        INSERT INTO provider_secrets (id, version, updated_at, kek_id, sealed) VALUES (1, $1, $2, $3, $4)
                        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
                        kek_id = EXCLUDED.kek_id, sealed = EXCLUDED.sealed
                        """, [.int(version), .int(now), .text(kek.id), .text(sealed)])
                    remember(changed, version: version)
                    return changed
                } catch let error as SharedSecretsError {
                    throw StoreError(code: -1, reason: error.reason)
                } catch let error as StoreError {
                    throw error
                } catch {
                    throw StoreError(code: -1, reason: "sealing the provider secrets: \(error)")
                }
            }
        } catch {
            throw SharedSecretsError(reason: error.reason)
        }
    }

    /// First start: creates the secrets, or adds keys for algorithms newly required.
    public func loadOrCreate(required: Set<JWSAlgorithm>, now: Int) throws(SharedSecretsError) -> ProviderSecrets {
        try update { (current) throws(SharedSecretsError) -> ProviderSecrets? in
            let base = current ?? ProviderSecrets(keys: KeySet(keys: []), pairwiseSalt: Self.randomBytes(32))
            let completed: (KeySet, added: Bool)
            do { completed = try base.keys.completed(with: required, now: now) } catch {
                throw SharedSecretsError(reason: "key generation failed: \(error)")
            }
            guard completed.added || current == nil else { return nil }
            return ProviderSecrets(keys: completed.0, pairwiseSalt: base.pairwiseSalt)
        }
    }

    /// `cns-gateway keys rotate` against the shared store.
    public func rotate(algorithms: Set<JWSAlgorithm>, now: Int, overlap: Int) throws(SharedSecretsError) -> ProviderSecrets {
        try update { (current) throws(SharedSecretsError) -> ProviderSecrets? in
            let base = current ?? ProviderSecrets(keys: KeySet(keys: []), pairwiseSalt: Self.randomBytes(32))
            let inUse = Set(base.keys.keys.filter { $0.retireAt == nil }.map(\.algorithm)).union(algorithms)
            do {
                return ProviderSecrets(keys: try base.keys.rotated(algorithms: inUse, now: now, overlap: overlap), pairwiseSalt: base.pairwiseSalt)
            } catch {
                throw SharedSecretsError(reason: "key generation failed: \(error)")
            }
        }
    }

    private func remember(_ secrets: ProviderSecrets, version: Int) {
        lastLoaded.withLock { $0 = secrets }
        let keys = secrets.keys
        let at = Date().timeIntervalSince1970
        cache.withLock { cache in
            if let existing = cache, existing.version > version { return }
            cache = Cache(keys: keys, version: version, fetchedAt: at)
        }
    }

    /// The key set for the provider: cached, re-read when older than `refreshInterval` by the
    /// one caller that notices first (the others keep using the cached set meanwhile). While
    /// the database is away the last set read stays in use.
    public func currentKeys() -> KeySet {
        let at = Date().timeIntervalSince1970
        let (keys, refresh) = cache.withLock { cache -> (KeySet, Bool) in
            guard var c = cache else { return (KeySet(keys: []), false) }
            guard at - c.fetchedAt >= refreshInterval, !c.refreshing else { return (c.keys, false) }
            c.refreshing = true
            cache = c
            return (c.keys, true)
        }
        guard refresh else { return keys }
        let fresh = try? store.withConnection { db throws(StoreError) -> (version: String?, kek: String?, sealed: String?)? in
            try db.query("SELECT version, kek_id, sealed FROM provider_secrets WHERE id = 1").first.map { ($0[0], $0[1], $0[2]) }
        }
        var result = keys
        var version: Int?
        if let row = fresh ?? nil, let decoded = try? decode(version: row.version, kekID: row.kek, sealed: row.sealed) {
            result = decoded.0.keys
            version = decoded.1
        }
        cache.withLock { cache in
            guard var c = cache else { return }
            c.refreshing = false
            c.fetchedAt = Date().timeIntervalSince1970
            if let version, version >= c.version {
                c.keys = result
                c.version = version
            } else {
                result = c.keys
            }
            cache = c
        }
        return result
    }

    static func randomBytes(_ count: Int) -> [UInt8] { Token.randomBytes(count) }
}
