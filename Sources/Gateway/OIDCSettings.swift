// Owned by the OIDC work (issue 4): the `[oidc]`, `[[client]]` and `[store]` settings.
// This first version only accepts the sections' presence so the rest of the config
// can be validated; the OIDC change replaces it.

public struct OIDCSettings: Sendable {
    static func parse(_ root: [String: ConfigValue], reader: ConfigReader, stateDirectory: String?) -> OIDCSettings? {
        for key in ["oidc", "client", "store"] where root[key] != nil {
            reader.problem(key, "OpenID Connect is not available in this build")
        }
        return nil
    }
}
