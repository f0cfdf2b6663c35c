import Outbound

/// `[trust] ocsp*` and `[trust.ocsp_responders]`: asking the card's CA, at login, whether the
/// card is revoked now, rather than as of its last CRL.
///
/// - `off`: CRLs only.
/// - `prefer`: a `good` answer accepts the card (even when its CRL is missing), `revoked`
///   refuses it; no usable answer (responder down, slow, `unknown`, a response that fails a
///   check) leaves the CRL's verdict.
/// - `require`: only a `good` answer accepts the card; no usable answer gives
///   `revocation_unavailable`.
/// A card the CRL already refuses (revoked, or any other chain problem) is never asked about.
struct OCSPSettings: Sendable, Equatable {
    enum Mode: String, Sendable {
        case off
        case prefer
        case require
    }

    var mode: Mode = .off
    /// The most a login waits for the responders, all attempts together.
    var timeout: Double = 5
    /// The longest a `good` or `revoked` answer is reused (never past its nextUpdate or the
    /// card's notAfter).
    var maxCacheTime: Double = 3600
    /// Lowercase hex SHA-256 of an issuing CA's certificate -> the http:// URL of its
    /// responder, used instead of the card's Authority Information Access.
    var responders: [String: String] = [:]
    /// Allowance for clocks: thisUpdate up to this far in the future, nextUpdate this far past.
    static let clockSkew: Double = 300

    static let keys: Set<String> = ["ocsp", "ocsp_timeout", "ocsp_max_cache_time", "ocsp_responders"]

    var enabled: Bool { mode != .off }

    static func parse(_ trust: [String: ConfigValue], reader: ConfigReader) -> OCSPSettings {
        var settings = OCSPSettings()
        settings.mode = Mode(rawValue: reader.choice(trust, "ocsp", path: "trust", default: "off",
                                                     choices: ["off", "prefer", "require"])) ?? .off
        settings.timeout = reader.double(trust, "ocsp_timeout", path: "trust", default: 5, range: 0.1...60)
        settings.maxCacheTime = reader.double(trust, "ocsp_max_cache_time", path: "trust", default: 3600, range: 0...604_800)
        guard let value = trust["ocsp_responders"] else { return settings }
        guard case .table(let entries) = value else {
            reader.problem("trust.ocsp_responders", "must be a table of \"<CA SHA-256>\" = \"http://...\", found \(value.typeName)")
            return settings
        }
        for (key, url) in entries.sorted(by: { $0.key < $1.key }) {
            let keyPath = "trust.ocsp_responders.\"\(key)\""
            let hex = key.replacing(":", with: "").lowercased()
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                reader.problem(keyPath, "key must be the issuing CA certificate's SHA-256 fingerprint (64 hex digits, colons optional)")
                continue
            }
            guard case .string(let text) = url else {
                reader.problem(keyPath, "must be a string, found \(url.typeName)")
                continue
            }
            guard let parsed = try? FetchURL(text), !parsed.useTLS else {
                reader.problem(keyPath, "\"\(text)\" is not an http:// URL (OCSP responses are signed: plain HTTP, as RFC 6960 expects)")
                continue
            }
            settings.responders[hex] = text
        }
        return settings
    }
}
