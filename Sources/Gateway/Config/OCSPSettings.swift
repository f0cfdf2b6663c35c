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
        settings.responders = reader.caURLTable(trust, "ocsp_responders", path: "trust", caMeaning: "the issuing CA certificate",
                                                why: "OCSP responses are signed: plain HTTP, as RFC 6960 expects")
        return settings
    }
}
