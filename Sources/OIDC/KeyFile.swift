import JSON
import Posix
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The provider's secrets on disk: signing keys and the pairwise-subject salt, one JSON file
/// in the state directory, mode 0600. A file others can read is refused, not repaired: the
/// operator must know the keys may have leaked.
public struct ProviderSecrets: Sendable {
    public var keys: KeySet
    public var pairwiseSalt: [UInt8]

    public init(keys: KeySet, pairwiseSalt: [UInt8]) {
        self.keys = keys
        self.pairwiseSalt = pairwiseSalt
    }
}

public struct KeyFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum KeyFile {
    public static let fileName = "oidc-keys.json"

    /// Nil when the file does not exist.
    public static func load(path: String) throws(KeyFileError) -> ProviderSecrets? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw KeyFileError(path: path, reason: String(cString: strerror(errno)))
        }
        guard info.st_mode & 0o077 == 0 else {
            throw KeyFileError(path: path, reason: "mode \(octalMode(info.st_mode)) is too open: the keys may have leaked; check, then chmod 600")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyFileError(path: path, reason: "not a cns-gateway key file")
        }
        return try decode(Array(data), source: path)
    }

    /// The secrets in `data` (the file's JSON form); `source` names it in errors. Also used for
    /// the copy a shared store keeps (encrypted) in its database.
    public static func decode(_ data: [UInt8], source path: String) throws(KeyFileError) -> ProviderSecrets {
        guard let json = JSONValue.decode(data),
              json["version"]?.intValue == 1, let saltText = json["pairwise_salt"]?.stringValue,
              let salt = Base64URL.decode(saltText), salt.count >= 32, let entries = json["keys"]?.arrayValue else {
            throw KeyFileError(path: path, reason: "not a cns-gateway key file")
        }
        var keys: [SigningKey] = []
        for entry in entries {
            guard let alg = entry["alg"]?.stringValue.flatMap(JWSAlgorithm.init(rawValue:)),
                  let privateText = entry["private"]?.stringValue, let privateBytes = Base64URL.decode(privateText),
                  let created = entry["created"]?.intValue else {
                throw KeyFileError(path: path, reason: "a key entry is incomplete")
            }
            do {
                let key = try SigningKey(algorithm: alg, privateBytes: privateBytes, created: created, retireAt: entry["retire_at"]?.intValue)
                if let kid = entry["kid"]?.stringValue, kid != key.kid {
                    throw KeyFileError(path: path, reason: "key \(kid) does not match its private key")
                }
                keys.append(key)
            } catch let error as KeyFileError {
                throw error
            } catch {
                throw KeyFileError(path: path, reason: "key entry: \(error)")
            }
        }
        return ProviderSecrets(keys: KeySet(keys: keys), pairwiseSalt: salt)
    }

    public static func encode(_ secrets: ProviderSecrets) -> [UInt8] {
        let entries: [JSONValue] = secrets.keys.keys.map { key in
            var o: [String: JSONValue] = [
                "alg": .string(key.algorithm.rawValue), "kid": .string(key.kid), "created": .int(key.created),
                "private": .string(Base64URL.encode(key.privateBytes)),
            ]
            if let retireAt = key.retireAt { o["retire_at"] = .int(retireAt) }
            return .object(o)
        }
        let json: JSONValue = ["version": 1, "pairwise_salt": .string(Base64URL.encode(secrets.pairwiseSalt)), "keys": .array(entries)]
        return json.encoded() + [0x0a]
    }

    /// Replaces the file whole (mode 0600 from creation): a crash leaves either the old set
    /// or the new one, never half a file.
    public static func write(_ secrets: ProviderSecrets, to path: String) throws(KeyFileError) {
        do {
            try AtomicFile.write(encode(secrets), to: path, mode: 0o600)
        } catch {
            throw KeyFileError(path: path, reason: error.description)
        }
    }

    /// The permission bits as `ls` and `chmod` write them: `0644`.
    static func octalMode(_ mode: mode_t) -> String {
        let digits = String(mode & 0o777, radix: 8)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    /// Loads the file, creating it (first start) or adding keys for newly required algorithms.
    public static func loadOrCreate(path: String, required: Set<JWSAlgorithm>, now: Int) throws(KeyFileError) -> ProviderSecrets {
        var secrets = try load(path: path) ?? ProviderSecrets(keys: KeySet(keys: []), pairwiseSalt: randomBytes(32))
        let completed: (KeySet, added: Bool)
        do {
            completed = try secrets.keys.completed(with: required, now: now)
        } catch {
            throw KeyFileError(path: path, reason: "key generation failed: \(error)")
        }
        if completed.added || !FileManager.default.fileExists(atPath: path) {
            secrets.keys = completed.0
            try write(secrets, to: path)
        }
        return secrets
    }

    /// `cns-gateway keys rotate`: a new key per algorithm in use; the old ones retire after `overlap`.
    public static func rotate(path: String, algorithms: Set<JWSAlgorithm>, now: Int, overlap: Int) throws(KeyFileError) -> ProviderSecrets {
        var secrets = try load(path: path) ?? ProviderSecrets(keys: KeySet(keys: []), pairwiseSalt: randomBytes(32))
        let inUse = Set(secrets.keys.keys.filter { $0.retireAt == nil }.map(\.algorithm)).union(algorithms)
        do {
            secrets.keys = try secrets.keys.rotated(algorithms: inUse, now: now, overlap: overlap)
        } catch {
            throw KeyFileError(path: path, reason: "key generation failed: \(error)")
        }
        try write(secrets, to: path)
        return secrets
    }

    static func randomBytes(_ count: Int) -> [UInt8] { Token.randomBytes(count) }
}
