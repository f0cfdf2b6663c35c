public import CNS
internal import Pages

/// `[profile]`: the CNS certificate profile the login requires.
public struct ProfileSettings: Sendable, Equatable {
    public var profile = CNSProfile.standard
    /// `enabled = false` accepts any certificate whose chain is valid (not recommended).
    public var enabled = true

    static func parse(_ root: [String: ConfigValue], reader: ConfigReader) -> ProfileSettings {
        var settings = ProfileSettings()
        guard let table = reader.optionalTable(root, "profile", allowed: [
            "enabled", "policy_oids", "require_digital_signature", "require_client_auth", "require_cn_format", "allow_cns_like",
        ]) else { return settings }
        settings.enabled = reader.bool(table, "enabled", path: "profile", default: true)
        var profile = CNSProfile.standard
        let oids = reader.stringArray(table, "policy_oids", path: "profile", default: profile.policyOIDs)
        for (i, oid) in oids.enumerated() where !ProfileSettings.isOID(oid) {
            reader.problem("profile.policy_oids[\(i)]", "\"\(oid)\" is not a dotted OID like \"1.3.76.16.2.1\"")
        }
        profile.policyOIDs = oids
        profile.requireDigitalSignature = reader.bool(table, "require_digital_signature", path: "profile", default: true)
        profile.requireClientAuthWhenEKUPresent = reader.bool(table, "require_client_auth", path: "profile", default: true)
        profile.requireCNFormat = reader.bool(table, "require_cn_format", path: "profile", default: true)
        profile.allowCNSLike = reader.bool(table, "allow_cns_like", path: "profile", default: false)
        settings.profile = profile
        return settings
    }

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
