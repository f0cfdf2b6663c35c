#if canImport(Glibc)
import Glibc
#endif
public import FoundationEssentials
import HTTP1
public import Logging
import Outbound
public import Posix
public import TrustList

/// Fetching a trusted list over http(s).
public enum TrustListDownload {
    /// The list's bytes from `url`, at most `maxSize` of them, through the outbound stack. An
    /// https:// server is checked against the system trust store; plain http:// is accepted
    /// because the list's own signature, by a pinned signer, is what makes it trusted.
    public static func fetch(_ url: String, maxSize: Int, timeout: Double) throws(TrustListError) -> [UInt8] {
        do throws(FetchError) {
            let target = try FetchURL(url)
            let request = FetchRequest(url: target, headers: [HTTPHeader(name: "Accept", value: "application/xml, text/xml, */*")])
            let body = try Fetcher.fetch(request, options: FetchOptions(deadline: Deadline(after: timeout), maxBodyBytes: maxSize)).body
            guard !body.isEmpty else { throw FetchError(.body, "\(target.origin): empty body") }
            return body
        } catch {
            if error.code == .tooLarge { throw TrustListError(.tooLarge, "\(error.reason) (max_size \(maxSize) bytes)") }
            throw TrustListError(.download, "download failed: \(error.reason)")
        }
    }

    public static let defaultTimeout: Double = 60
}

/// One import, as the CLI runs it now and the scheduled refresh will: read the source,
/// evaluate it against the settings and the sequence number in use, write the CA directory,
/// and log the outcome (every CA added or removed gets its own line). Whatever fails, the
/// directory keeps the last good list.
public enum TrustListUpdate {
    public enum Outcome: Sendable {
        case applied(TrustListApplied, VerifiedTrustList)
        case refused(TrustListError, TrustListEvaluation?)

        public var error: TrustListError? {
            if case .refused(let error, _) = self { error } else { nil }
        }
    }

    /// The bytes of `source`: a file (size-checked before reading) or a download.
    public static func read(_ source: TrustListSource, maxSize: Int) throws(TrustListError) -> [UInt8] {
        switch source {
        case .file(let path): try TrustListFile.read(path: path, maxSize: maxSize)
        case .url(let url): try TrustListDownload.fetch(url, maxSize: maxSize, timeout: TrustListDownload.defaultTimeout)
        }
    }

    /// Reads and evaluates without writing anything (`verify`, `show`).
    public static func evaluate(_ source: TrustListSource, policy: TrustListPolicy, directory: String?,
                                now: Date = Date()) throws(TrustListError) -> TrustListEvaluation {
        let sequence = try directory.flatMap { path throws(TrustListError) in try TrustListDirectory(path: path).manifest() }?.sequenceNumber
        let bytes = try read(source, maxSize: policy.maxSize)
        return TrustListEvaluation.evaluate(bytes, policy: policy, sequenceInUse: sequence, now: now)
    }

    /// Reads, evaluates and applies `source` (default: the configured one), then logs.
    /// The caller reloads the trust store when the outcome is `.applied` (SIGHUP).
    public static func run(_ settings: TrustListSettings, source: TrustListSource? = nil, logger: Logger,
                           now: Date = Date()) -> Outcome {
        guard let source = source ?? settings.source else {
            let error = TrustListError(.unreadable, "no source: give a file or URL, or set [trust_list] source")
            log(.refused(error, nil), source: nil, logger: logger)
            return .refused(error, nil)
        }
        let outcome: Outcome
        do {
            let directory = TrustListDirectory(path: settings.directory)
            let evaluation = try evaluate(source, policy: settings.policy, directory: settings.directory, now: now)
            switch evaluation.verdict {
            case .failure(let error):
                outcome = .refused(error, evaluation)
            case .success(let list):
                outcome = .applied(try directory.apply(list, source: source.description, now: now), list)
            }
        } catch {
            outcome = .refused(error, nil)
        }
        log(outcome, source: source, logger: logger)
        return outcome
    }

    static func log(_ outcome: Outcome, source: TrustListSource?, logger: Logger) {
        var fields: Logger.Metadata = ["source": "\(source?.description ?? "none")"]
        switch outcome {
        case .refused(let error, let evaluation):
            fields["result"] = "refused"
            fields["reason"] = "\(error.code.rawValue)"
            fields["error"] = "\(error.reason)"
            fields["detail"] = "the CA list in use stays"
            if let header = evaluation?.header { fields["sequence_number"] = .stringConvertible(header.sequenceNumber) }
            if let signer = evaluation?.signer { fields["signer_sha256"] = "\(signer.sha256)" }
            logger.error("trust_list_import", metadata: fields)
        case .applied(let applied, let list):
            for entry in applied.added {
                logger.info("trust_list_ca_added", metadata: [
                    "ca": "\(entry.subject)", "ca_sha256": "\(entry.sha256)", "provider": "\(entry.provider)",
                    "service": "\(entry.service)", "status": "\(entry.status)",
                ])
            }
            for entry in applied.removed {
                logger.info("trust_list_ca_removed", metadata: [
                    "ca": "\(entry.subject)", "ca_sha256": "\(entry.sha256)", "provider": "\(entry.provider)",
                    "service": "\(entry.service)",
                ])
            }
            fields["result"] = "applied"
            fields["sequence_number"] = .stringConvertible(list.header.sequenceNumber)
            if let previous = applied.previousSequenceNumber { fields["previous_sequence_number"] = .stringConvertible(previous) }
            if let next = list.header.nextUpdate { fields["next_update"] = "\(Timestamp.text(next))" }
            fields["signer"] = "\(list.signer.subject)"
            fields["signer_sha256"] = "\(list.signer.sha256)"
            fields["ca_certificates"] = .stringConvertible(list.cas.count)
            fields["added"] = .stringConvertible(applied.added.count)
            fields["removed"] = .stringConvertible(applied.removed.count)
            fields["skipped_services"] = .stringConvertible(Set(list.decisions.filter { !$0.taken }.map(\.service.index)).count)
            logger.info("trust_list_import", metadata: fields)
        }
    }
}

/// The daemon's PID file in the state directory, how `trust-list import` finds the running
/// gateway to reload it.
public enum GatewayPIDFile {
    public static func path(stateDirectory: String) -> String { "\(stateDirectory)/cns-gateway.pid" }

    /// Takes the PID file when a state directory is configured; logs (and goes on) when
    /// another live gateway holds it.
    public static func acquire(_ config: GatewayConfig, logger: Logger) -> PIDFile? {
        guard let stateDirectory = config.stateDirectory else { return nil }
        let file = path(stateDirectory: stateDirectory)
        do {
            return try PIDFile.acquire(path: file)
        } catch {
            logger.warning("pid_file", metadata: [
                "file": "\(file)", "error": "\(error)",
                "detail": error.isWouldBlock ? "another gateway holds it; trust-list import reloads that one" : "no PID file; reload with SIGHUP yourself",
            ])
            return nil
        }
    }

    /// Sends SIGHUP to the gateway running with this state directory; its pid, or nil when none runs.
    public static func reloadRunningGateway(stateDirectory: String?) -> Int32? {
        guard let stateDirectory, let pid = PIDFile.runningProcess(path: path(stateDirectory: stateDirectory)) else { return nil }
        return kill(pid, SIGHUP) == 0 ? pid : nil
    }
}
