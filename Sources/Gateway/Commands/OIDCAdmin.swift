public import FoundationEssentials
import OIDC
import Store

/// The administrator's OIDC tools behind `cns-gateway hash-secret`, `keys rotate` and `audit`.
public enum OIDCAdmin {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A PHC string for `[[client]] secret_hash` of a secret a person chose: PBKDF2, slow on purpose.
    public static func hashSecret(_ secret: String) -> String {
        SecretHash.make(secret: secret).description
    }

    /// A new client secret (32 random bytes, base64url) and its `secret_hash`: a one-pass keyed
    /// hash, since nobody can guess 256 random bits (see SecretHash.swift).
    public static func generateSecret() -> (secret: String, hash: String) {
        let secret = Token.random()
        return (secret, SecretHash.makeForGenerated(secret: secret).description)
    }

    private static func settings(configPath: String) throws -> OIDCSettings {
        let config = try GatewayConfig.load(path: configPath)
        guard let oidc = config.oidc else { throw Failure(description: "\(configPath): no [oidc] section") }
        return oidc
    }

    /// Adds a new signing key per algorithm in use and schedules the old ones' retirement.
    /// Returns one line per key for the operator. The running daemon picks the new set up on SIGHUP.
    public static func rotateKeys(configPath: String, overlap: Int?) throws -> [String] {
        let oidc = try settings(configPath: configPath)
        let now = Int(Date().timeIntervalSince1970)
        let secrets: ProviderSecrets
        switch oidc.store {
        case .sqlite:
            secrets = try KeyFile.rotate(path: oidc.keyFile, algorithms: oidc.provider.requiredAlgorithms, now: now,
                                         overlap: overlap ?? oidc.keyRotationOverlap)
        case .postgres(let target):
            // Shared keys: every instance re-reads them within seconds, no SIGHUP needed.
            guard let kekFile = oidc.keyEncryptionKeyFile else { throw Failure(description: "[store] key_encryption_key_file is required") }
            let shared = SharedSecrets.open(store: try PostgresStore.open(target: target), kek: try KeyEncryptionKey.load(path: kekFile),
                                            versionFile: oidc.secretsVersionFile)
            secrets = try shared.rotate(algorithms: oidc.provider.requiredAlgorithms, now: now, overlap: overlap ?? oidc.keyRotationOverlap)
        }
        return secrets.keys.keys.map { key in
            let state = key.retireAt.map { "published until \(ISO8601.string(Date(timeIntervalSince1970: TimeInterval($0))))" } ?? "signing"
            return "\(key.algorithm.rawValue) \(key.kid) created \(ISO8601.string(Date(timeIntervalSince1970: TimeInterval(key.created)))) \(state)"
        }
    }

    /// `--since`: an ISO 8601 date or time (UTC), or an age like `30m`, `24h`, `7d`.
    public static func parseSince(_ text: String, now: Date = Date()) -> Date? {
        if let unit = text.last, let amount = Double(text.dropLast()), amount >= 0 {
            let seconds: Double? = switch unit {
            case "s": 1
            case "m": 60
            case "h": 3600
            case "d": 86_400
            default: nil
            }
            if let seconds { return now.addingTimeInterval(-amount * seconds) }
        }
        // A full date and time with a zone (`Z`, `+01:00`, `+0100`), else a calendar date at
        // midnight UTC; both read leniently, as `ISO8601DateFormatter` did.
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date.ISO8601FormatStyle().year().month().day().parse(text)
    }

    /// The audit trail, filtered, one line (text or JSON) per record.
    public static func audit(configPath: String, since: Date?, reason: String?, codiceFiscale: String?, limit: Int, json: Bool) throws -> [String] {
        let oidc = try settings(configPath: configPath)
        let store: any OIDCStore
        if case .postgres(let target) = oidc.store {
            store = try PostgresStore.open(target: target)
        } else {
            guard FileManager.default.fileExists(atPath: oidc.databasePath) else {
                throw Failure(description: "\(oidc.databasePath): no database yet (the gateway creates it on first start)")
            }
            store = try SQLiteStore(path: oidc.databasePath, create: false)
        }
        let filter = AuditFilter(since: since.map { Int64($0.timeIntervalSince1970 * 1000) }, reason: reason,
                                 codiceFiscale: codiceFiscale?.uppercased(), limit: limit)
        return try store.audit(filter).map { record in
            if json { return record.json.text }
            let time = ISO8601.string(Date(timeIntervalSince1970: TimeInterval(record.time) / 1000))
            var line = "\(time) \(record.event) \(record.reason) client=\(record.clientID.isEmpty ? "-" : record.clientID) from=\(record.clientAddress.isEmpty ? "-" : record.clientAddress)"
            if let kind = record.cardKind { line += " card=\(kind)" }
            if let cf = record.codiceFiscale { line += " cf=\(cf)" }
            if let serial = record.certificateSerial { line += " serial=\(serial)" }
            if let issuer = record.certificateIssuer { line += " issuer=\"\(issuer)\"" }
            if let repeated = record.repeated { line += " repeated=\(repeated) (counted, not recorded one by one)" }
            if let via = record.via, via != "handshake" { line += " via=\(via)" }
            if let proxy = record.proxyAddress { line += " proxy=\(proxy)" }
            return line
        }
    }
}
