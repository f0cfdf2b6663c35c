import FoundationEssentials
public import Posix
public import TLS

/// One problem in a configuration file: where (file and key path) and what.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var keyPath: String
    public var message: String

    public var description: String { "\(file): \(keyPath.isEmpty ? "" : "\(keyPath): ")\(message)" }
}

/// A configuration that could not be loaded, with every problem found (not just the first).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

public enum LogFormat: String, Sendable { case auto, json, text }

public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    public var address: SocketAddress
    /// Empty only on a plain-HTTP forwarded listener (a proxy on loopback, by waiver).
    public var certificate: String
    public var privateKey: String
    /// What the TLS handshake asks of the client; `.none` on a forwarded listener, whose
    /// handshake asks for the proxy's pinned certificate instead.
    public var clientCertificate: ClientCertificateMode
    public var tlsVersions: [TLSVersion]
    public var proxyProtocol: Bool
    public var trustedProxies: [IPNetwork]
    public var sendCANames: Bool
    /// `client_certificate = "forwarded"`: the card comes in a header from a trusted proxy.
    public var forwarded: ForwardedSettings? = nil
    /// `public_base_url`: where browsers reach this listener (through a proxy, maybe under a path).
    public var publicBaseURL: String? = nil
    /// The path of `publicBaseURL` ("" when unset or at the root): the pages are served under it
    /// and link within it.
    public var publicPathPrefix: String = ""

    /// No TLS at all: a forwarded listener behind a proxy on this host.
    public var isPlainHTTP: Bool { certificate.isEmpty }

    /// The listener reads the citizen's card: in its own handshake, or from a trusted proxy.
    public var readsCard: Bool { clientCertificate != .none || forwarded != nil }

    public func isTrustedProxy(_ peer: SocketAddress) -> Bool { trustedProxies.contains { $0.contains(peer) } }

    public var tlsConfiguration: TLSContextConfiguration {
        TLSContextConfiguration(certificateChainFile: certificate, privateKeyFile: privateKey,
                                clientCertificate: clientCertificate, versions: tlsVersions, sendCANames: sendCANames,
                                pinnedClientCertificates: forwarded?.proxyCertificates ?? [])
    }
}

public struct Limits: Sendable, Equatable {
    public var handshakeTimeout: Double = 10
    public var headerTimeout: Double = 10
    public var idleTimeout: Double = 60
    public var maxConnections: Int = 10_000
    public var maxConnectionsPerClient: Int = 256
    public var maxHeaderBytes: Int = 16_384
    public var maxBodyBytes: Int = 1_048_576
    /// Seconds a connection on a listener that asks for the card may live: it is closed after
    /// the response that finds it older, so a browser cannot hold a connection (and the card
    /// it presented once) for ever.
    public var maxConnectionAge: Double = 600
    /// New connections a second each loop thread accepts on each listener (the admin listener
    /// excepted); 0 = no bound. See AcceptBudget.swift.
    public var acceptRate: Double = 500
    /// New connections a loop thread accepts at once, above the rate, after a quiet moment.
    public var acceptBurst: Int = 1000
}

/// One blocking pool's threads and queue bound (`[server] login_threads`, `login_queue`, ...).
public struct PoolSize: Sendable, Equatable {
    public var threads: Int
    public var queue: Int
}

public struct GatewayConfig: Sendable {
    public var file: String
    public var loopThreads: Int = 0
    /// The pool for the browser's steps of a login (`/authorize`, `/logout`); read at start only.
    public var loginPool = PoolSize(threads: 8, queue: 1024)
    /// The pool for what relying parties' back ends call (`/token`, `/introspect`, `/revoke`,
    /// `/userinfo`, discovery, JWKS); read at start only.
    public var backChannelPool = PoolSize(threads: 8, queue: 1024)
    public var drainTimeout: Double = 10
    public var logLevel: String = "info"
    public var logFormat: LogFormat = .auto
    public var accessLog: Bool = true
    public var listeners: [ListenerConfig] = []
    public var trust: TrustSources
    public var limits = Limits()
    /// Where keys and the embedded database live (`[server] state_dir`).
    public var stateDirectory: String?
    public var profile = ProfileSettings()
    public var help = HelpSettings()
    public var pagesDirectory: String?
    /// The plain-HTTP admin listener for /metrics and probes (`[admin] address`).
    public var adminAddress: SocketAddress?
    /// The OpenID Connect provider, when `[oidc]` is configured.
    public var oidc: OIDCSettings?
    /// Scheduled CRL downloads (`[trust] crl_refresh = true`); see CRLRefresher.swift.
    public var crlRefresh: CRLRefreshSettings?
    /// Asking the card's CA at login (`[trust] ocsp`); see OCSPSettings.swift.
    var ocsp = OCSPSettings()
    /// The CA list imported from a signed trusted list (`[trust_list]`); see TrustListSettings.swift.
    public var trustList: TrustListSettings?

    /// Loop threads actually started: one per CPU unless configured.
    public var effectiveLoopThreads: Int { loopThreads > 0 ? loopThreads : max(1, Posix.Process.availableCPUs) }
}

extension GatewayConfig {
    /// Reads and strictly validates a config file. Every problem is collected, so an
    /// operator fixes them in one pass.
    public static func load(path: String) throws(ConfigError) -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(problems: [ConfigProblem(file: path, keyPath: "", message: "cannot read the configuration file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [ConfigProblem(file: path, keyPath: "", message: "not UTF-8 text")])
        }
        let document: ConfigValue
        do {
            document = try ConfigValue.parseTOML(text)
        } catch {
            throw ConfigError(problems: [ConfigProblem(file: path, keyPath: "", message: "TOML syntax: \(error)")])
        }
        let baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(document, file: path, baseDirectory: baseDirectory)
    }

    static func parse(_ document: ConfigValue, file: String, baseDirectory: String) throws(ConfigError) -> GatewayConfig {
        let reader = ConfigReader(file: file, baseDirectory: baseDirectory)
        let root = reader.table(document, path: "", allowed: [
            "server", "logging", "listener", "trust", "trust_list", "limits", "profile", "help", "pages", "oidc", "client", "store", "audit",
            "admin",
        ])

        var config = GatewayConfig(file: file, trust: TrustSources(caBundle: "", crls: [], revocation: .bestEffort, legacyIssuers: []))

        if let server = reader.optionalTable(root, "server", allowed: [
            "loop_threads", "drain_timeout", "state_dir", "login_threads", "login_queue", "back_channel_threads", "back_channel_queue",
        ]) {
            config.loopThreads = reader.int(server, "loop_threads", path: "server", default: 0, range: 0...256)
            config.loginPool = PoolSize(
                threads: reader.int(server, "login_threads", path: "server", default: config.loginPool.threads, range: 1...256),
                queue: reader.int(server, "login_queue", path: "server", default: config.loginPool.queue, range: 1...1_000_000))
            config.backChannelPool = PoolSize(
                threads: reader.int(server, "back_channel_threads", path: "server", default: config.backChannelPool.threads, range: 1...256),
                queue: reader.int(server, "back_channel_queue", path: "server", default: config.backChannelPool.queue, range: 1...1_000_000))
            config.stateDirectory = reader.path(server, "state_dir", path: "server", required: false, mustBe: .directory)
            config.drainTimeout = reader.double(server, "drain_timeout", path: "server", default: 10, range: 0...3600)
        }
        if let logging = reader.optionalTable(root, "logging", allowed: ["level", "format", "access_log"]) {
            config.logLevel = reader.choice(logging, "level", path: "logging", default: "info",
                                            choices: ["debug", "info", "notice", "warning", "error"])
            config.logFormat = LogFormat(rawValue: reader.choice(logging, "format", path: "logging", default: "auto",
                                                                 choices: ["auto", "json", "text"])) ?? .auto
            config.accessLog = reader.bool(logging, "access_log", path: "logging", default: true)
        }

        let listenerTables = reader.tableArray(root, "listener")
        if listenerTables.isEmpty {
            reader.problem("listener", "at least one [[listener]] is required")
        }
        var names = Set<String>()
        for (i, table) in listenerTables.enumerated() {
            let path = "listener[\(i)]"
            let fields = reader.table(table, path: path, allowed: Set([
                "name", "address", "certificate", "private_key", "client_certificate", "tls_versions",
                "proxy_protocol", "trusted_proxies", "send_ca_names", "public_base_url",
            ]).union(ForwardedSettings.keys))
            let name = reader.string(fields, "name", path: path, default: nil) ?? "listener\(i)"
            if !names.insert(name).inserted { reader.problem("\(path).name", "duplicate listener name \"\(name)\"") }
            if name == "admin" { reader.problem("\(path).name", "\"admin\" is reserved for the [admin] listener") }
            let addressText = reader.string(fields, "address", path: path, default: nil) ?? ""
            let address = SocketAddress(parsing: addressText)
            if address == nil && !addressText.isEmpty {
                reader.problem("\(path).address", "\"\(addressText)\" is not an address like \"127.0.0.1:8443\" or \"[::]:443\"")
            }
            let modeText = reader.choice(fields, "client_certificate", path: path, default: "optional",
                                         choices: ["none", "optional", "require", "forwarded"])
            let forwarded = ForwardedSettings.parse(fields, path: path, forwarded: modeText == "forwarded", reader: reader)
            // The certificate and key may be left out only where the proxy talks plain HTTP from this host.
            let tlsRequired = !(forwarded?.unauthenticatedLoopbackProxy ?? false)
                || fields["certificate"] != nil || fields["private_key"] != nil
            let certificate = reader.path(fields, "certificate", path: path, required: tlsRequired, mustBe: .file) ?? ""
            let privateKey = reader.path(fields, "private_key", path: path, required: tlsRequired, mustBe: .file) ?? ""
            let mode = ClientCertificateMode(rawValue: modeText) ?? .none
            let versionStrings = reader.stringArray(fields, "tls_versions", path: path, default: ["1.2", "1.3"])
            var versions: [TLSVersion] = []
            for v in versionStrings {
                if let version = TLSVersion(rawValue: v) { versions.append(version) } else {
                    reader.problem("\(path).tls_versions", "\"\(v)\" is not one of \"1.2\", \"1.3\"")
                }
            }
            if versionStrings.isEmpty { reader.problem("\(path).tls_versions", "must name at least one version") }
            let proxy = reader.bool(fields, "proxy_protocol", path: path, default: false)
            var proxies: [IPNetwork] = []
            for cidr in reader.stringArray(fields, "trusted_proxies", path: path, default: []) {
                if let network = IPNetwork(parsing: cidr) { proxies.append(network) } else {
                    reader.problem("\(path).trusted_proxies", "\"\(cidr)\" is not a CIDR like \"10.0.0.0/8\"")
                }
            }
            if proxy && proxies.isEmpty {
                reader.problem("\(path).trusted_proxies", "proxy_protocol = true needs at least one trusted proxy")
            }
            if let forwarded {
                checkForwarded(forwarded, path: path, proxyProtocol: proxy, proxies: proxies, address: address,
                               plain: certificate.isEmpty && privateKey.isEmpty && !tlsRequired, reader: reader)
            }
            let sendNames = reader.bool(fields, "send_ca_names", path: path, default: true)
            let base = PublicBaseURL.parse(fields, path: path, reader: reader)
            if let address {
                config.listeners.append(ListenerConfig(
                    name: name, address: address, certificate: certificate, privateKey: privateKey,
                    clientCertificate: mode, tlsVersions: versions.isEmpty ? [.tls12, .tls13] : versions,
                    proxyProtocol: proxy, trustedProxies: proxies, sendCANames: sendNames,
                    forwarded: forwarded, publicBaseURL: base?.url, publicPathPrefix: base?.pathPrefix ?? ""))
            }
        }

        if let trust = reader.requiredTable(root, "trust", allowed: CRLRefreshSettings.keys.union(OCSPSettings.keys).union([
            "ca_bundle", "crls", "revocation", "legacy_issuers", "max_crl_overdue",
        ])) {
            // With [trust_list] the CAs may come from the imported list alone.
            let bundle = reader.path(trust, "ca_bundle", path: "trust", required: root["trust_list"] == nil, mustBe: .fileOrDirectory) ?? ""
            var crls: [String] = []
            for (i, entry) in reader.stringArray(trust, "crls", path: "trust", default: []).enumerated() {
                if let resolved = reader.checkPath(entry, keyPath: "trust.crls[\(i)]", mustBe: .fileOrDirectory) {
                    crls.append(resolved)
                }
            }
            let revocation = RevocationPolicy(rawValue: reader.choice(trust, "revocation", path: "trust", default: "best-effort",
                                                                      choices: ["require", "best-effort"])) ?? .bestEffort
            var legacy: [String] = []
            for (i, entry) in reader.stringArray(trust, "legacy_issuers", path: "trust", default: []).enumerated() {
                let hex = entry.replacing(":", with: "")
                if hex.count == 64 && hex.allSatisfy(\.isHexDigit) {
                    legacy.append(entry)
                } else if let resolved = reader.checkPath(entry, keyPath: "trust.legacy_issuers[\(i)]", mustBe: .file) {
                    legacy.append(resolved)
                }
            }
            let overdue = reader.double(trust, "max_crl_overdue", path: "trust", default: 86_400, range: 0...2_592_000)
            config.trust = TrustSources(caBundle: bundle, crls: crls, revocation: revocation, legacyIssuers: legacy,
                                        maxCRLOverdue: overdue)
            config.crlRefresh = CRLRefreshSettings.parse(trust, reader: reader, stateDirectory: config.stateDirectory, trustSources: &config.trust)
            config.ocsp = OCSPSettings.parse(trust, reader: reader)
        }
        config.trustList = TrustListSettings.parse(root, reader: reader, stateDirectory: config.stateDirectory, trust: &config.trust)

        if let limits = reader.optionalTable(root, "limits", allowed: [
            "handshake_timeout", "header_timeout", "idle_timeout", "max_connections",
            "max_connections_per_client", "max_header_bytes", "max_body_bytes", "max_connection_age",
            "accept_rate", "accept_burst",
        ]) {
            var l = Limits()
            l.handshakeTimeout = reader.double(limits, "handshake_timeout", path: "limits", default: l.handshakeTimeout, range: 0.1...600)
            l.headerTimeout = reader.double(limits, "header_timeout", path: "limits", default: l.headerTimeout, range: 0.1...600)
            l.idleTimeout = reader.double(limits, "idle_timeout", path: "limits", default: l.idleTimeout, range: 0.1...86400)
            l.maxConnections = reader.int(limits, "max_connections", path: "limits", default: l.maxConnections, range: 1...1_000_000)
            l.maxConnectionsPerClient = reader.int(limits, "max_connections_per_client", path: "limits",
                                                   default: l.maxConnectionsPerClient, range: 1...1_000_000)
            l.maxHeaderBytes = reader.int(limits, "max_header_bytes", path: "limits", default: l.maxHeaderBytes, range: 1024...1_048_576)
            l.maxBodyBytes = reader.int(limits, "max_body_bytes", path: "limits", default: l.maxBodyBytes, range: 0...104_857_600)
            l.maxConnectionAge = reader.double(limits, "max_connection_age", path: "limits", default: l.maxConnectionAge, range: 1...86_400)
            l.acceptRate = reader.double(limits, "accept_rate", path: "limits", default: l.acceptRate, range: 0...1_000_000)
            l.acceptBurst = reader.int(limits, "accept_burst", path: "limits", default: l.acceptBurst, range: 1...1_000_000)
            config.limits = l
        }

        config.profile = ProfileSettings.parse(root, reader: reader)
        config.help = HelpSettings.parse(root, reader: reader)
        config.pagesDirectory = reader.optionalTable(root, "pages", allowed: ["directory"]).flatMap {
            reader.path($0, "directory", path: "pages", required: false, mustBe: .directory)
        }
        config.oidc = OIDCSettings.parse(root, reader: reader, stateDirectory: config.stateDirectory)
        if let issuer = config.oidc?.provider {
            // The OIDC endpoints live under the issuer's path; a listener whose pages live under
            // another prefix would send the browser where the proxy forwards nothing.
            for (i, listener) in config.listeners.enumerated() where listener.publicBaseURL != nil && listener.publicPathPrefix != issuer.pathPrefix {
                reader.problem("listener[\(i)].public_base_url",
                               "its path \"\(listener.publicPathPrefix)\" must be the path of oidc.issuer (\"\(issuer.pathPrefix)\"): the OIDC endpoints are served under it")
            }
        }
        if var oidc = config.oidc {
            // The provider advertises and issues only what the profile accepts.
            let accepted = config.profile.acceptedKinds
            oidc.provider.cardKinds = accepted
            for (i, client) in oidc.provider.clients.enumerated() where client.cardKinds.isDisjoint(with: accepted) {
                reader.problem("client[\(i)].card_kinds", "\(client.cardKinds.map(\.rawValue).sorted().joined(separator: ", ")) only, "
                               + "and [profile] accepts \(accepted.map(\.rawValue).sorted().joined(separator: ", ")): no card could log in to \(client.id)")
            }
            config.oidc = oidc
        }
        if let admin = reader.optionalTable(root, "admin", allowed: ["address"]) {
            let text = reader.string(admin, "address", path: "admin", default: "127.0.0.1:9464") ?? "127.0.0.1:9464"
            if let address = SocketAddress(parsing: text) {
                config.adminAddress = address
            } else {
                reader.problem("admin.address", "\"\(text)\" is not an address like \"127.0.0.1:9464\"")
            }
        }

        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return config
    }

    /// What a forwarded listener must be to be safe: the header is believed only from listed
    /// peers, and over plain HTTP or without a proxy certificate only from this host.
    private static func checkForwarded(_ forwarded: ForwardedSettings, path: String, proxyProtocol: Bool, proxies: [IPNetwork],
                                       address: SocketAddress?, plain: Bool, reader: ConfigReader) {
        if proxyProtocol {
            reader.problem("\(path).proxy_protocol", "not with client_certificate = \"forwarded\": the proxy speaks HTTP to this listener")
        }
        if proxies.isEmpty {
            reader.problem("\(path).trusted_proxies", "client_certificate = \"forwarded\" needs the proxies' addresses")
        }
        if forwarded.unauthenticatedLoopbackProxy {
            for network in proxies where !ForwardedSettings.isLoopback(network) {
                reader.problem("\(path).trusted_proxies",
                               "\(network) is not a loopback address: allow_unauthenticated_loopback_proxy trusts only a proxy on this host")
            }
            if plain, let address, !ForwardedSettings.isLoopback(address) {
                reader.problem("\(path).address", "a plain-HTTP forwarded listener must listen on a loopback address, not \(address)")
            }
        }
        if plain && !forwarded.proxyCertificates.isEmpty {
            reader.problem("\(path).proxy_certificates", "a proxy certificate needs TLS: give the listener a certificate and private_key")
        }
    }
}
