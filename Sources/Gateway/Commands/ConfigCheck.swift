#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Store
import TLS

/// `check-config`: everything a start would load, with every problem reported in one run,
/// each naming the file and the key path; and the warnings (what loads but cannot work as
/// meant, such as a CIE facing a TLS 1.3-only listener).
public enum ConfigCheck {
    /// What a start would refuse (`problems`), and what it would accept but should not
    /// (`warnings`: printed, not fatal, so `ExecStartPre` still starts the service).
    public struct Report: Sendable {
        public var problems: [String]
        public var warnings: [String]
    }

    public static func run(path: String) -> [String] { check(path: path).problems }

    public static func check(path: String) -> Report {
        // File permissions are checked from the raw document, so they are reported even
        // when other keys are wrong (an operator fixes everything in one pass).
        let permissionProblems = privateKeyPermissions(configPath: path).map(\.description)
        let config: GatewayConfig
        do {
            config = try GatewayConfig.load(path: path)
        } catch {
            return Report(problems: error.problems.map(\.description) + permissionProblems, warnings: [])
        }
        let (problems, trust) = problems(config, path: path, permissionProblems: permissionProblems)
        return Report(problems: problems, warnings: warnings(config, path: path) + (trust.map { revocationWarnings(config, trust: $0, path: path) } ?? []))
    }

    /// A CA of the bundle whose cards nothing can tell revoked: no CRL loaded, none the refresher
    /// would fetch, and OCSP off. Under best-effort its cards are accepted unchecked; under
    /// require they are all refused.
    static func revocationWarnings(_ config: GatewayConfig, trust: TrustStore, path: String) -> [String] {
        // A responder for a CA the bundle does not have (yet: a trusted-list import may bring it).
        let known = Set(trust.authorities.map(\.sha256))
        let unused = config.ocsp.responders.keys.sorted().filter { !known.contains($0) }.map {
            "\(path): trust.ocsp_responders.\"\($0)\": no CA of trust.ca_bundle or of the imported trusted list has this SHA-256"
        }
        guard !config.ocsp.enabled else { return unused }
        let refreshed: Set<String>
        if let refresh = config.crlRefresh, let cas = try? CRLValidation.bundleCAs(config.trust) {
            refreshed = Set(cas.filter { CRLRefresher.source(for: $0, in: cas, settings: refresh) != nil }.map(\.fingerprint))
        } else {
            refreshed = []
        }
        let consequence = config.trust.revocation == .require
            ? "every card it issued is refused (revocation = \"require\")"
            : "its cards are accepted without any revocation check (revocation = \"best-effort\")"
        return unused + trust.authorities.filter { !$0.hasCRL && !refreshed.contains($0.sha256) }.map { authority in
            "\(path): trust: no revocation source for CA \"\(authority.subject)\" (SHA-256 \(authority.sha256)): no CRL in trust.crls, "
                + "none to download (crl_refresh, trust.crl_sources), ocsp = \"off\"; \(consequence)"
        }
    }

    /// What loads but cannot work as meant: the configuration's own warnings (a CIE facing a
    /// TLS 1.3-only card listener), and a shared store reached without verify-full.
    static func warnings(_ config: GatewayConfig, path: String) -> [String] {
        var warnings = config.warnings
        if case .postgres(let target)? = config.oidc?.store, let warning = target.transportWarning {
            warnings.append("\(path): store.url: \(warning)")
        }
        return warnings
    }

    private static func problems(_ config: GatewayConfig, path: String, permissionProblems: [String]) -> ([String], TrustStore?) {
        var problems = permissionProblems
        let trust: TrustStore
        do {
            trust = try TrustStore(config.trust)
        } catch {
            return (problems + ["\(path): trust: \(error.reason)"], nil)
        }
        for (i, listener) in config.listeners.enumerated() where !listener.isPlainHTTP {
            do {
                _ = try TLSContext(listener.tlsConfiguration, trust: trust)
            } catch {
                let key = error.code == .privateKey ? "private_key" : "certificate"
                problems.append("\(path): listener[\(i)].\(key): (\(listener.name)) \(error.reason)")
            }
        }
        if let refresh = config.crlRefresh, !refresh.sources.isEmpty,
           let cas = try? CRLValidation.bundleCAs(config.trust) {
            let known = Set(cas.map(\.fingerprint))
            for fingerprint in refresh.sources.keys.sorted() where !known.contains(fingerprint) {
                problems.append("\(path): trust.crl_sources.\"\(fingerprint)\": no CA of trust.ca_bundle or of the imported trusted list has this SHA-256")
            }
        }
        return (problems, trust)
    }

    /// A TLS private key readable by anyone but its owner is refused: a leaked key lets
    /// anyone impersonate the login service. (Group access is refused too: give the key
    /// to the service user with mode 0600 or 0400.)
    static func privateKeyPermissions(configPath: String) -> [ConfigProblem] {
        guard let data = FileManager.default.contents(atPath: configPath),
              let text = String(data: data, encoding: .utf8),
              case .table(let root)? = try? ConfigValue.parseTOML(text),
              case .array(let listeners)? = root["listener"] else { return [] }
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
        var problems: [ConfigProblem] = []
        for (i, listener) in listeners.enumerated() {
            guard case .table(let fields) = listener, case .string(let raw)? = fields["private_key"], !raw.isEmpty else { continue }
            let file = raw.hasPrefix("/") ? raw : "\(base)/\(raw)"
            var info = stat()
            guard stat(file, &info) == 0 else { continue }  // a missing file is the loader's problem
            let mode = info.st_mode & 0o777
            if mode & 0o077 != 0 {
                problems.append(ConfigProblem(
                    file: configPath, keyPath: "listener[\(i)].private_key",
                    message: "\(file): mode \(String(mode, radix: 8)) lets group or others access the private key; use chmod 600"))
            }
        }
        return problems
    }
}
