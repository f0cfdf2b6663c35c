#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import Metrics
import HTTP1
import Outbound
import Posix
import TLS

/// `[trust] crl_refresh*` and `[trust.crl_sources]`: fetching each CA's CRL over plain HTTP
/// into a directory the trust store loads.
///
/// Where a CA's CRL is fetched from, first match wins:
/// 1. `[trust.crl_sources]`, keyed by the CA certificate's SHA-256 (hex, colons optional);
/// 2. for a self-issued root, the http:// CRL distribution point of the root itself;
/// 3. the http:// CRL distribution point of a bundle certificate the CA issued (an
///    intermediate's CDP names its issuer's CRL, RFC 5280 4.2.1.13).
/// A CA with none of these is skipped (logged once). Citizens' certificates are not used:
/// they are only seen during handshakes, and a CRL location must not be attacker-chosen.
public struct CRLRefreshSettings: Sendable, Equatable {
    public var interval: Double = 3600
    public var timeout: Double = 15
    /// The largest CRL downloaded (`crl_max_size`, bytes): national CAs publish CRLs of tens of
    /// megabytes; a response past this is cut off and the CRL in use stays.
    public var maxSize: Int = 200 << 20
    /// Absolute path; appended to `trust.crls` once it exists.
    public var directory: String
    /// Lowercase hex SHA-256 of a CA certificate -> http:// URL of its CRL.
    public var sources: [String: String] = [:]

    /// The `[trust]` keys this file owns (added to the table's allowed keys).
    static let keys: Set<String> = ["crl_refresh", "crl_refresh_interval", "crl_directory", "crl_fetch_timeout", "crl_sources",
                                    "crl_max_size"]

    /// Reads the refresh keys of `[trust]`; nil when `crl_refresh` is off. Adds the
    /// directory to `trust.crls` when it exists (on the first start the refresher creates
    /// it, then its reload picks it up).
    static func parse(_ trust: [String: ConfigValue], reader: ConfigReader, stateDirectory: String?,
                      trustSources: inout TrustSources) -> CRLRefreshSettings? {
        let enabled = reader.bool(trust, "crl_refresh", path: "trust", default: false)
        let interval = reader.double(trust, "crl_refresh_interval", path: "trust", default: 3600, range: 1...604_800)
        let timeout = reader.double(trust, "crl_fetch_timeout", path: "trust", default: 15, range: 1...300)
        let maxSize = reader.double(trust, "crl_max_size", path: "trust", default: Double(200 << 20), range: 1024...Double(4 << 30))
        let sources = reader.caURLTable(trust, "crl_sources", path: "trust", caMeaning: "a CA certificate",
                                        why: "CRLs are signed: plain HTTP only")
        let configured = reader.string(trust, "crl_directory", path: "trust", default: "") ?? ""
        guard enabled else { return nil }

        let directory: String
        if !configured.isEmpty {
            directory = configured.hasPrefix("/") ? configured : "\(reader.baseDirectory)/\(configured)"
        } else if let stateDirectory {
            directory = "\(stateDirectory)/crls"
        } else {
            reader.problem("trust.crl_directory", "needed when crl_refresh = true and [server] state_dir is not set")
            return nil
        }
        var isDirectory = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory else {
                reader.problem("trust.crl_directory", "\(directory): is not a directory")
                return nil
            }
            if !trustSources.crls.contains(directory) { trustSources.crls.append(directory) }
        } else {
            let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory {
                reader.problem("trust.crl_directory", "\(directory): neither it nor its parent directory exists")
                return nil
            }
        }
        return CRLRefreshSettings(interval: interval, timeout: timeout, maxSize: Int(maxSize), directory: directory, sources: sources)
    }
}

/// Fetches CRLs on its own thread (never a loop thread: fetches block for seconds),
/// validates each against its CA, replaces the stored one atomically, then asks for the
/// same reload SIGHUP gives: it sends SIGHUP to its own process, which the control thread
/// (the only one with the signal unblocked via sigtimedwait) turns into a reload. So a
/// refresh and an operator's reload can never run at the same time.
final class CRLRefresher: Sendable {
    private let shared: SharedState

    private init(shared: SharedState) { self.shared = shared }

    /// Starts the refresher thread. It reads the current generation's settings each
    /// cycle, so a reload that turns refresh on or off takes effect at the next tick.
    @discardableResult
    static func start(shared: SharedState) -> CRLRefresher {
        let refresher = CRLRefresher(shared: shared)
        Posix.Thread.start(name: "cns-crl-refresh") { refresher.run() }
        return refresher
    }

    private func run() {
        let logger = Logger(label: "cns-gateway")
        var unsourced = Set<String>()
        // After a failed download, try again sooner than a whole (hourly) interval.
        var schedule = RefreshSchedule(firstRetry: Self.retryAfterFailure)
        while !shared.isDraining {
            if let settings = shared.generation.config.crlRefresh {
                if schedule.start(interval: settings.interval) {
                    let outcome = refreshAll(settings, logger: logger, unsourced: &unsourced)
                    schedule.finished(failed: outcome.failed)
                    if outcome.changed {
                        logger.info("crl_refresh_reload", metadata: ["detail": "new CRLs stored; reloading as on SIGHUP"])
                        kill(getpid(), SIGHUP)
                    }
                }
            } else {
                schedule.reset()
            }
            sleep(1)
        }
    }

    static let retryAfterFailure: Double = 300

    /// One pass over every CA: whether a CRL was replaced, and whether a download failed.
    func refreshAll(_ settings: CRLRefreshSettings, logger: Logger, unsourced: inout Set<String>) -> (changed: Bool, failed: Bool) {
        let config = shared.generation.config
        let cas: [BundleCA]
        do {
            cas = try CRLValidation.bundleCAs(config.trust)
        } catch {
            logger.error("crl_refresh", metadata: ["result": "failed", "error": "\(error.reason)"])
            return (false, true)
        }
        if !FileManager.default.fileExists(atPath: settings.directory) {
            do {
                try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: false,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                logger.error("crl_refresh", metadata: ["result": "failed", "error": "\(settings.directory): cannot create: \(error)"])
                return (false, true)
            }
        }
        var changed = false
        var failed = false
        var searchPaths = config.trust.crls
        if !searchPaths.contains(settings.directory) { searchPaths.append(settings.directory) }
        for ca in cas {
            guard let url = Self.source(for: ca, in: cas, settings: settings) else {
                if unsourced.insert(ca.fingerprint).inserted {
                    logger.info("crl_refresh_no_source", metadata: ["ca": "\(ca.subject)", "ca_sha256": "\(ca.fingerprint)"])
                }
                continue
            }
            var fields: Logger.Metadata = ["ca": "\(ca.subject)", "ca_sha256": "\(ca.fingerprint)", "url": "\(url)"]
            // The download goes straight to a temporary file beside the CA's CRL, is checked
            // there, and replaces the CRL only if it passes: never the whole body in memory.
            let file = "\(settings.directory)/\(ca.fingerprint).crl"
            let writer: AtomicFileWriter
            do {
                writer = try AtomicFileWriter(path: file)
                try CRLFetch.download(url, timeout: settings.timeout, maxBytes: settings.maxSize, into: writer)
            } catch {
                failed = true
                fields["result"] = "failed"
                fields["error"] = "\(error)"
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "failed")]).increment()
                logger.warning("crl_refresh", metadata: fields)
                continue
            }
            fields["bytes"] = .stringConvertible(writer.count)
            let outcome = CRLValidation.check(file: writer.temporaryPath, ca: ca, currentIn: searchPaths)
            if case .accepted = outcome {} else { writer.abort() }
            switch outcome {
            case .unchanged:
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "unchanged")]).increment()
                Self.recordSuccess(ca)
                fields["result"] = "unchanged"
                logger.debug("crl_refresh", metadata: fields)
            case .rejected(let rejection):
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "rejected")]).increment()
                failed = true
                fields["result"] = "rejected"
                fields["reason"] = "\(rejection.code.rawValue)"
                fields["error"] = "\(rejection.detail)"
                fields["detail"] = "the CRL in use stays"
                // An older CRL is usually a lagging mirror; anything else may be an attack.
                if rejection.code == .older || rejection.code == .notNewer {
                    logger.warning("crl_refresh", metadata: fields)
                } else {
                    logger.error("crl_refresh", metadata: fields)
                }
            case .accepted(let crl):
                do {
                    try writer.commit()
                } catch {
                    failed = true
                    fields["result"] = "failed"
                    fields["error"] = "\(file): \(error)"
                    logger.error("crl_refresh", metadata: fields)
                    continue
                }
                changed = true
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "updated")]).increment()
                Self.recordSuccess(ca)
                fields["result"] = "updated"
                fields["file"] = "\(file)"
                fields["crl_number"] = "\(crl.crlNumber ?? "none")"
                fields["entries"] = .stringConvertible(crl.entries)
                if let next = crl.nextUpdate { fields["next_update"] = "\(next)" }
                logger.info("crl_refresh", metadata: fields)
            }
        }
        return (changed, failed)
    }

    /// For alerting: a CA whose CRL has not been fetched successfully for a while.
    private static func recordSuccess(_ ca: BundleCA) {
        Gauge(label: "cns_crl_refresh_last_success_timestamp_seconds",
              dimensions: [("issuer", ca.subject), ("ca_sha256", ca.fingerprint)]).record(Date().timeIntervalSince1970)
    }

    static func source(for ca: BundleCA, in cas: [BundleCA], settings: CRLRefreshSettings) -> String? {
        if let explicit = settings.sources[ca.fingerprint] { return explicit }
        if ca.selfIssued, let own = ca.distributionPoints.first { return own }
        return cas.first { $0.fingerprint != ca.fingerprint && $0.issuers.contains(ca.fingerprint) && !$0.distributionPoints.isEmpty }?
            .distributionPoints.first
    }
}

/// One CRL download through the outbound stack: plain HTTP (CRLs are signed; RFC 5280
/// section 4.2.1.13 publishes them over HTTP), one request per connection, no redirects, a
/// deadline for the whole exchange and a size cap.
enum CRLFetch {
    /// An `http://` URL the refresher may fetch a CRL from; nil for anything else.
    static func url(_ text: String) -> FetchURL? {
        guard let url = try? FetchURL(text), !url.useTLS else { return nil }
        return url
    }

    /// The body written to `writer` as it arrives (not committed: the caller checks it first).
    static func download(_ urlText: String, timeout: Double, maxBytes: Int, into writer: AtomicFileWriter) throws(FetchError) {
        guard let url = url(urlText) else { throw FetchError(.url, "not an http:// URL") }
        let request = FetchRequest(url: url, headers: [
            HTTPHeader(name: "Accept", value: "application/pkix-crl, application/x-pkcs7-crl, */*"),
        ])
        _ = try Fetcher.fetch(request, options: FetchOptions(deadline: Deadline(after: timeout), maxBodyBytes: maxBytes)) { (chunk) throws(FetchError) in
            do {
                try writer.write(chunk)
            } catch {
                throw FetchError(.sink, "\(writer.path): \(error)")
            }
        }
        guard writer.count > 0 else { throw FetchError(.body, "\(url.origin): empty body") }
    }

    static func get(_ urlText: String, timeout: Double, maxBytes: Int) throws(FetchError) -> [UInt8] {
        guard let url = url(urlText) else { throw FetchError(.url, "not an http:// URL") }
        let request = FetchRequest(url: url, headers: [
            HTTPHeader(name: "Accept", value: "application/pkix-crl, application/x-pkcs7-crl, */*"),
        ])
        let body = try Fetcher.fetch(request, options: FetchOptions(deadline: Deadline(after: timeout), maxBodyBytes: maxBytes)).body
        guard !body.isEmpty else { throw FetchError(.body, "\(url.origin): empty body") }
        return body
    }
}
