public import OIDC
import Crypto
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Posix
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

    /// The authenticated data of every seal: the purpose, and the key-set version the row
    /// claims. Whoever can write the database can put back an old sealed key set, but not
    /// relabel it with a newer version number (it would not open), so the instances, which
    /// never go back to a lower version, keep the keys they have.
    static func context(version: Int) -> [UInt8] {
        Array("cns-gateway provider secrets v2".utf8) + [0] + withUnsafeBytes(of: Int64(version).bigEndian, Array.init)
    }

    /// What rows sealed before the version was bound carry (see `SharedSecrets` for when one
    /// is still accepted, once, to be re-sealed).
    static let legacyContext = Array("cns-gateway provider secrets v1".utf8)

    func seal(_ plaintext: [UInt8], version: Int) throws -> String {
        try seal(plaintext, context: Self.context(version: version))
    }

    func open(_ sealed: String, version: Int) throws -> Data {
        try open(sealed, context: Self.context(version: version))
    }

    func openLegacy(_ sealed: String) throws -> Data { try open(sealed, context: Self.legacyContext) }

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: context)
        guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
        return combined.base64EncodedString()
    }

    private func open(_ sealed: String, context: [UInt8]) throws -> Data {
        guard let data = Data(base64Encoded: sealed) else { throw CryptoKitError.incorrectParameterSize }
        return try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: context)
    }
}

public struct SharedSecretsError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The provider's signing keys and pairwise salt, kept once for every instance in the shared
/// database (one row, AES-256-GCM under the local key-encryption key, the row's version bound
/// into the seal). `keys rotate` on any instance changes the row; every instance re-reads it
/// at most `refreshInterval` seconds later.
///
/// Rollback: an instance never takes a version lower than the highest it has seen, and keeps
/// that number in `versionFile` (in the state directory) so a restart does not forget it. A
/// row sealed before versions were bound (`legacyContext`) is accepted only where no bound
/// row was ever seen (the first start after the upgrade), and is re-sealed bound at once.
public final class SharedSecrets: Sendable {
    let store: PostgresStore
    let kek: KeyEncryptionKey
    let refreshInterval: Double
    /// The highest version this instance has used, kept across restarts; nil: memory only.
    let versionFile: String?
    /// The highest version seen; -1: none seen (nor in `versionFile`), so a legacy row may be migrated.
    private let highest = Mutex<Int>(-1)

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
    public static func open(store: PostgresStore, kek: KeyEncryptionKey, versionFile: String? = nil) -> SharedSecrets {
        instances.withLock { instances in
            if let existing = instances[store.target], existing.kek.id == kek.id, existing.versionFile == versionFile { return existing }
            let created = SharedSecrets(store: store, kek: kek, versionFile: versionFile)
            instances[store.target] = created
            return created
        }
    }

    /// The secrets read or written last by this process.
    public var lastKnown: ProviderSecrets? { lastLoaded.withLock { $0 } }

    public init(store: PostgresStore, kek: KeyEncryptionKey, refreshInterval: Double = 5, versionFile: String? = nil) {
        self.store = store
        self.kek = kek
        self.refreshInterval = refreshInterval
        self.versionFile = versionFile
        if let versionFile, let data = FileManager.default.contents(atPath: versionFile),
           let version = Int(String(decoding: data, as: UTF8.self).trimmingScalars(where: \.isWhitespaceOrNewline)) {
            highest.withLock { $0 = version }
        }
    }

    /// The file's name in the state directory.
    public static let versionFileName = "provider-secrets.version"

    /// Serializes writers (first start of several instances, two operators rotating at once).
    static let lockKey: Int64 = 0x636E_735F_6777_0002

    /// The row's secrets and version; `legacy` when it was sealed before versions were bound,
    /// which is accepted only with `migrating` (see the type's comment).
    private func decode(version: String?, kekID: String?, sealed: String?,
                        migrating: Bool) throws(SharedSecretsError) -> (secrets: ProviderSecrets, version: Int, legacy: Bool) {
        guard let sealed, let version = version.flatMap(Int.init) else { throw SharedSecretsError(reason: "provider_secrets row incomplete") }
        guard kekID == kek.id else {
            throw SharedSecretsError(reason: "the provider secrets in the database were sealed with another key-encryption key (\(kekID ?? "?"), this instance has \(kek.id))")
        }
        let seen = highest.withLock { $0 }
        guard version >= seen else {
            throw SharedSecretsError(reason: "the provider secrets in the database are version \(version), older than version \(seen) this instance has used: refusing to roll the signing keys back (if the database was restored from a backup on purpose, remove \(versionFile ?? "the version file") and restart)")
        }
        var legacy = false
        let plaintext: Data
        do {
            plaintext = try kek.open(sealed, version: version)
        } catch {
            guard migrating, seen < 0, let old = try? kek.openLegacy(sealed) else {
                throw SharedSecretsError(reason: "the provider secrets in the database do not decrypt for version \(version): \(error)")
            }
            plaintext = old
            legacy = true
        }
        do {
            return (try KeyFile.decode(Array(plaintext), source: "database provider_secrets"), version, legacy)
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
                var current: (secrets: ProviderSecrets, version: Int, legacy: Bool)?
                do {
                    if let row { current = try decode(version: row[0], kekID: row[1], sealed: row[2], migrating: true) }
                    guard let changed = try change(current?.secrets) else {
                        guard let current else { throw SharedSecretsError(reason: "no provider secrets") }
                        if current.legacy {
                            // The migration: the same key set and version, sealed with the version bound.
                            let sealed = try kek.seal(KeyFile.encode(current.secrets), version: current.version)
                            try db.query("UPDATE provider_secrets SET sealed = $1, updated_at = $2 WHERE id = 1",
                                         [.text(sealed), .int(now)])
                        }
                        remember(current.secrets, version: current.version)
                        return current.secrets
                    }
                    let version = (current?.version ?? 0) + 1
                    let sealed = try kek.seal(KeyFile.encode(changed), version: version)
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
        let raised = highest.withLock { seen -> Bool in
            guard version > seen else { return false }
            seen = version
            return true
        }
        // Best effort: without the file, a restart merely forgets the number (the running
        // instances still refuse to go back).
        if raised, let versionFile { try? AtomicFile.write(Array("\(version)\n".utf8), to: versionFile, mode: 0o600) }
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
        // A running instance never migrates: a legacy row now can only have been written by hand.
        if let row = fresh ?? nil, let decoded = try? decode(version: row.version, kekID: row.kek, sealed: row.sealed, migrating: false) {
            result = decoded.secrets.keys
            version = decoded.version
            remember(decoded.secrets, version: decoded.version)
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
