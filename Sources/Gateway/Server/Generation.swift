import FoundationEssentials
import Pages
import Posix
import Synchronization
import TLS
import TrustList

/// Everything one load of the configuration produced: the config, the trust store and
/// one TLS context per listener. Built off the loop threads and swapped whole; a
/// connection keeps the generation it was accepted under until it closes.
final class Generation: Sendable {
    let number: Int
    let config: GatewayConfig
    let trust: TrustStore
    /// TLS context per listener name.
    let contexts: [String: TLSContext]
    let pages: PageRenderer
    /// The OpenID Connect provider, when `[oidc]` is configured.
    let oidc: OIDCService?
    /// The imported trusted list in use (its manifest), when `[trust_list]` is configured and
    /// a list has been imported.
    let trustList: TrustListManifest?
    let loadedAt: Date
    /// The subjects of the bundle's CAs: the only values of a metric's `issuer` label.
    let caSubjects: Set<String>

    init(number: Int, config: GatewayConfig) throws(GenerationError) {
        self.number = number
        self.config = config
        do {
            self.pages = try PageRenderer(overrideDirectory: config.pagesDirectory, help: config.help.contacts,
                                          cardKinds: config.profile.acceptedKinds, cieBlockedByTLS: config.cieBlockedByTLSVersions)
        } catch {
            throw GenerationError(.pages, "pages: \(error.reason)")
        }
        do {
            self.trust = try TrustStore(config.trust)
        } catch {
            throw GenerationError(.trust, error.reason)
        }
        var contexts: [String: TLSContext] = [:]
        for listener in config.listeners where !listener.isPlainHTTP {
            do {
                contexts[listener.name] = try TLSContext(listener.tlsConfiguration, trust: trust)
            } catch {
                throw GenerationError(.listener, "listener \"\(listener.name)\": \(error.reason)")
            }
        }
        self.contexts = contexts
        if let settings = config.oidc {
            do {
                self.oidc = try OIDCService(settings: settings, stateDirectory: config.stateDirectory)
            } catch {
                throw GenerationError(.oidc, "oidc: \(error.reason)")
            }
        } else {
            self.oidc = nil
        }
        self.trustList = config.trustList.flatMap { try? TrustListDirectory(path: $0.directory).manifest() }
        self.loadedAt = Date()
        self.caSubjects = Set(trust.authorities.map(\.subject))
    }

    /// The `issuer` label for a chain built to `authority` (`CertificateVerdict.authority`): its
    /// subject when it is a CA of this generation's bundle, else `other`. Checked against the
    /// bundle here too, so no verdict path can turn a name a client chose into a label.
    func issuerLabel(_ authority: String?) -> String {
        guard let authority, caSubjects.contains(authority) else { return "other" }
        return authority
    }

    /// The configuration at `path` and everything it names, or one error saying which part
    /// failed: what start and every reload (SIGHUP, a refreshed CRL) go through.
    static func load(number: Int, path: String, adjust: (inout GatewayConfig) -> Void = { _ in }) throws(GenerationError) -> Generation {
        var config: GatewayConfig
        do {
            config = try GatewayConfig.load(path: path)
        } catch {
            throw GenerationError(.config, error.description)
        }
        adjust(&config)
        return try Generation(number: number, config: config)
    }

    func listener(named name: String) -> ListenerConfig? {
        config.listeners.first { $0.name == name }
    }
}

/// Why a configuration could not be turned into a serving generation: the one error type a
/// start or a reload reports (its reason is what /healthz and the log show).
struct GenerationError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        /// The configuration file: syntax, an unknown key, a missing file.
        case config
        case pages
        /// The CA bundle or a CRL.
        case trust
        /// A listener's certificate, key or TLS settings.
        case listener
        /// The OpenID Connect provider: state directory, keys, store.
        case oidc
    }
    var code: Code
    var reason: String
    var file: String
    var line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    var description: String { reason }
    static func == (lhs: GenerationError, rhs: GenerationError) -> Bool { lhs.code == rhs.code }
}
