public import CNS
internal import Pages

/// `[profile]`: the certificate profile the login requires, and which cards it accepts
/// (`cns`, `cie`).
public struct ProfileSettings: Sendable, Equatable {
    public var profile = CNSProfile.standard
    /// `enabled = false` accepts any certificate whose chain is valid (not recommended).
    public var enabled = true

    static func parse(_ root: [String: ConfigValue], reader: ConfigReader) -> ProfileSettings {
        var settings = ProfileSettings()
        guard let table = reader.optionalTable(root, "profile", allowed: [
            "enabled", "cns", "cie", "policy_oids", "cie_policy_oids", "require_digital_signature", "require_client_auth",
            "require_cn_format", "allow_cns_like",
        ]) else { return settings }
        settings.enabled = reader.bool(table, "enabled", path: "profile", default: true)
        var profile = CNSProfile.standard
        var kinds = Set<CardKind>()
        for kind in CardKind.allCases where reader.bool(table, kind.rawValue, path: "profile", default: true) {
            kinds.insert(kind)
        }
        if kinds.isEmpty { reader.problem("profile", "cns and cie are both false: no card could log in") }
        profile.kinds = kinds
        let oids = reader.stringArray(table, "policy_oids", path: "profile", default: profile.policyOIDs)
        for (i, oid) in oids.enumerated() where !ProfileSettings.isOID(oid) {
            reader.problem("profile.policy_oids[\(i)]", "\"\(oid)\" is not a dotted OID like \"1.3.76.16.2.1\"")
        }
        profile.policyOIDs = oids
        let cieOIDs = reader.stringArray(table, "cie_policy_oids", path: "profile", default: profile.ciePolicyOIDs)
        for (i, oid) in cieOIDs.enumerated() where !ProfileSettings.isOID(oid) {
            reader.problem("profile.cie_policy_oids[\(i)]", "\"\(oid)\" is not a dotted OID like \"1.3.76.47.4\"")
        }
        // The policy is what tells a CIE apart from a CNS (CNSEvaluator): without one, a CIE
        // would be judged by the CNS rules.
        if cieOIDs.isEmpty { reader.problem("profile.cie_policy_oids", "must name at least one policy (the CIE's is \"1.3.76.47.4\")") }
        for oid in cieOIDs where oids.contains(oid) {
            reader.problem("profile.cie_policy_oids", "\"\(oid)\" is in policy_oids too: a policy names one kind of card")
        }
        profile.ciePolicyOIDs = cieOIDs
        profile.requireDigitalSignature = reader.bool(table, "require_digital_signature", path: "profile", default: true)
        profile.requireClientAuthWhenEKUPresent = reader.bool(table, "require_client_auth", path: "profile", default: true)
        profile.requireCNFormat = reader.bool(table, "require_cn_format", path: "profile", default: true)
        profile.allowCNSLike = reader.bool(table, "allow_cns_like", path: "profile", default: false)
        settings.profile = profile
        return settings
    }

    /// The kinds of card a login can be made with: `[profile]`'s, all of them when the
    /// profile check is off.
    public var acceptedKinds: Set<CardKind> { enabled ? profile.kinds : Set(CardKind.allCases) }

    static func isOID(_ text: String) -> Bool {
        let arcs = text.split(separator: ".", omittingEmptySubsequences: false)
        return arcs.count >= 2 && arcs.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }
}

/// `[help]`: the contacts every error page shows.
public struct HelpSettings: Sendable, Equatable {
    public var phone: String? = nil
    public var email: String? = nil
    public var url: String? = nil
    public var hours: String? = nil

    static func parse(_ root: [String: ConfigValue], reader: ConfigReader) -> HelpSettings {
        guard let table = reader.optionalTable(root, "help", allowed: ["phone", "email", "url", "hours"]) else {
            return HelpSettings()
        }
        func optional(_ key: String) -> String? {
            let value = reader.string(table, key, path: "help", default: "") ?? ""
            return value.isEmpty ? nil : value
        }
        return HelpSettings(phone: optional("phone"), email: optional("email"), url: optional("url"), hours: optional("hours"))
    }

    var contacts: HelpContacts {
        HelpContacts(phone: phone, email: email, url: url, hours: hours)
    }
}

extension GatewayConfig {
    /// Listeners that ask for the card (`client_certificate` optional or require).
    var cardListeners: [ListenerConfig] { listeners.filter { $0.clientCertificate != .none } }

    /// The card listeners a CIE cannot log in on: the CIE middleware signs only with PKCS#1
    /// v1.5, and TLS 1.3 accepts only RSA-PSS in a CertificateVerify (RFC 8446 section
    /// 4.2.3), so a CIE needs TLS 1.2.
    var cieUnreachableListeners: [ListenerConfig] {
        guard profile.acceptedKinds.contains(.cie) else { return [] }
        return cardListeners.filter { !$0.tlsVersions.contains(.tls12) }
    }

    /// True when the CIE is accepted but no card listener offers TLS 1.2: the citizen's pages
    /// then say that a CIE cannot log in here.
    public var cieBlockedByTLSVersions: Bool {
        let card = cardListeners
        return !card.isEmpty && cieUnreachableListeners.count == card.count
    }

    /// What loads but will not work as an operator probably meant: `check-config` prints
    /// these and the daemon logs them (`config_warning`) at start and on reload.
    public var warnings: [String] {
        cieUnreachableListeners.map { listener in
            let index = listeners.firstIndex(of: listener) ?? 0
            return "\(file): listener[\(index)].tls_versions: (\(listener.name)) TLS 1.3 only, and [profile] cie is on: a CIE "
                + "cannot log in here (its middleware signs only PKCS#1 v1.5, which TLS 1.3 does not allow); add \"1.2\" "
                + "or set [profile] cie = false"
        }
    }
}
