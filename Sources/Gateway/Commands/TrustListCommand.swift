import FoundationEssentials
import JSON
import Logging
import Posix
import TLS
import TrustList

/// `cns-gateway trust-list verify|show|import`: the same evaluation the import uses,
/// explained for people (text) or tools (`--json`).
public enum TrustListCommand {
    public struct Output: Sendable {
        public var text: String
        /// 0 accepted, 3 refused.
        public var status: Int32
    }

    /// A usage problem (bad option, unreadable config): exit 1.
    public struct UsageError: Error, CustomStringConvertible {
        public var description: String
    }

    struct Inputs {
        var source: TrustListSource
        var policy: TrustListPolicy
        var directory: String?
        var settings: TrustListSettings?
        var config: GatewayConfig?
    }

    /// Settings from `--config` (its `[trust_list]`), pins from `--signer` added to them.
    static func inputs(source: String?, configPath: String?, signers: [String]) throws -> Inputs {
        var config: GatewayConfig? = nil
        var settings: TrustListSettings? = nil
        if let configPath {
            config = try GatewayConfig.load(path: configPath)
            settings = config?.trustList
            if settings == nil { throw UsageError(description: "\(configPath): no [trust_list] table") }
        }
        var policy = settings?.policy ?? TrustListPolicy(signerFingerprints: [])
        for signer in signers {
            let hex = signer.replacing(":", with: "").lowercased()
            if hex.count == 64, hex.allSatisfy(\.isHexDigit) {
                policy.signerFingerprints.insert(hex)
                continue
            }
            for der in try CertificateFile.load(path: signer) {
                guard let certificate = CertificateSummary(der: der) else { throw UsageError(description: "\(signer): a certificate does not parse") }
                policy.signerFingerprints.insert(certificate.sha256)
            }
        }
        let resolved: TrustListSource
        if let source {
            resolved = TrustListSource(source, relativeTo: FileManager.default.currentDirectoryPath)
        } else if let configured = settings?.source {
            resolved = configured
        } else {
            throw UsageError(description: "no list given: name a file or URL, or set [trust_list] source in --config")
        }
        return Inputs(source: resolved, policy: policy, directory: settings?.directory, settings: settings, config: config)
    }

    public static func verify(source: String?, configPath: String?, signers: [String], json: Bool) throws -> Output {
        try report(source: source, configPath: configPath, signers: signers, json: json) { report in
            json ? report.json(services: false).prettyText : report.verifyText
        }
    }

    public static func show(source: String?, configPath: String?, signers: [String], json: Bool) throws -> Output {
        try report(source: source, configPath: configPath, signers: signers, json: json) { report in
            json ? report.json(services: true).prettyText : report.showText
        }
    }

    /// Evaluates the list without importing it and renders the report (exit 3 when refused).
    private static func report(source: String?, configPath: String?, signers: [String], json: Bool,
                               render: (TrustListReport) -> String) throws -> Output {
        let inputs = try inputs(source: source, configPath: configPath, signers: signers)
        let evaluation: TrustListEvaluation
        do {
            evaluation = try TrustListUpdate.evaluate(inputs.source, policy: inputs.policy, directory: inputs.directory)
        } catch {
            return refusedBeforeReading(error, source: inputs.source, json: json)
        }
        return Output(text: render(TrustListReport(source: inputs.source, evaluation: evaluation)),
                      status: evaluation.error == nil ? 0 : 3)
    }

    /// Imports, logs like the daemon (JSON lines with `--json`), and sends SIGHUP to the
    /// gateway running with the config's state directory. Returns the exit status.
    public static func importList(source: String?, configPath: String, json: Bool, reload: Bool) throws -> Int32 {
        let inputs = try inputs(source: source, configPath: configPath, signers: [])
        guard let settings = inputs.settings, let config = inputs.config else { return 1 }
        GatewayLogHandler.bootstrap(level: config.logLevel, format: json ? .json : config.logFormat)
        let logger = Logger(label: "cns-gateway")
        let outcome = TrustListUpdate.run(settings, source: inputs.source, logger: logger)
        guard case .applied = outcome else { return 3 }
        guard reload else {
            logger.info("trust_list_reload", metadata: ["result": "skipped", "detail": "--no-reload: the gateway uses the new list at its next reload"])
            return 0
        }
        if let pid = GatewayPIDFile.reloadRunningGateway(stateDirectory: config.stateDirectory) {
            logger.info("trust_list_reload", metadata: ["result": "signalled", "pid": .stringConvertible(Int(pid)),
                                                        "detail": "SIGHUP sent; the gateway's log says whether the reload succeeded"])
        } else {
            let where_ = config.stateDirectory.map { GatewayPIDFile.path(stateDirectory: $0) } ?? "no [server] state_dir"
            logger.info("trust_list_reload", metadata: ["result": "no_gateway", "pid_file": "\(where_)",
                                                        "detail": "no running gateway found; it uses the new list when it starts or reloads"])
        }
        return 0
    }

    private static func refusedBeforeReading(_ error: TrustListError, source: TrustListSource, json: Bool) -> Output {
        if json {
            let object: JSONValue = ["source": .string(source.description), "accepted": false,
                                     "reason": .string(error.code.rawValue), "error": .string(error.reason)]
            return Output(text: object.prettyText, status: 3)
        }
        return Output(text: "\(source.description):\n  verdict:   REFUSED \(error.code.rawValue): \(error.reason)", status: 3)
    }
}

/// The shapes `verify` and `show` print.
struct TrustListReport {
    let source: TrustListSource
    let evaluation: TrustListEvaluation

    var verdictText: String {
        switch evaluation.verdict {
        case .success(let list): "ACCEPTED: \(list.cas.count) CA certificates would be taken"
        case .failure(let error): "REFUSED \(error.code.rawValue): \(error.reason)"
        }
    }

    var verifyText: String {
        var lines = ["\(source.description) (\(evaluation.size) bytes):"]
        if let signer = evaluation.signer {
            lines.append("  signer:      \(signer.subject)")
            lines.append("  signer SHA-256: \(signer.sha256)\(signer.pinned ? " (pinned)" : " (NOT pinned)")")
            if let from = signer.notBefore, let to = signer.notAfter {
                lines.append("  signer valid: \(Timestamp.text(from)) .. \(Timestamp.text(to))")
            }
        } else {
            lines.append("  signer:      (none found)")
        }
        if let header = evaluation.header {
            lines.append("  territory:   \(header.territory) (\(header.operatorName))")
            lines.append("  TSLSequenceNumber: \(header.sequenceNumber)")
            lines.append("  ListIssueDateTime: \(header.issueDate.map(Timestamp.text) ?? "(none)")")
            lines.append("  NextUpdate:  \(header.nextUpdate.map(Timestamp.text) ?? "(none: closed list)")")
        }
        lines.append("  verdict:     \(verdictText)")
        return lines.joined(separator: "\n")
    }

    var showText: String {
        var lines = [verifyText, ""]
        if evaluation.error != nil {
            lines.append("The list is refused: nothing is imported. What its selection would be:")
            lines.append("")
        }
        lines.append("taken:")
        let taken = evaluation.decisions.filter(\.taken)
        let skipped = evaluation.decisions.filter { !$0.taken }
        for decision in taken { lines += describe(decision) }
        if taken.isEmpty { lines.append("  (none)") }
        lines.append("")
        lines.append("skipped:")
        for decision in skipped { lines += describe(decision) }
        if skipped.isEmpty { lines.append("  (none)") }
        lines.append("")
        lines.append("\(taken.count) taken, \(skipped.count) skipped, of \(Set(evaluation.decisions.map(\.service.index)).count) services")
        return lines.joined(separator: "\n")
    }

    private func describe(_ decision: ServiceDecision) -> [String] {
        let service = decision.service
        var lines = ["  #\(service.index) \(service.provider) | \(service.name)"]
        lines.append("      type \(Self.short(service.type)), status \(Self.short(service.status)) since \(service.statusStart.map(Timestamp.text) ?? "?")")
        if let certificate = decision.certificate {
            lines.append("      \(certificate.subject)")
            lines.append("      SHA-256 \(certificate.sha256), valid to \(certificate.notAfter.map(Timestamp.text) ?? "?")")
        }
        lines.append("      \(decision.reason.rawValue)\(decision.detail.isEmpty ? "" : ": \(decision.detail)")")
        return lines
    }

    private static func short(_ uri: String) -> String {
        uri.split(separator: "/").last.map(String.init) ?? uri
    }

    func json(services: Bool) -> JSONValue {
        var object: [String: JSONValue] = [
            "source": .string(source.description), "size": .int(evaluation.size),
            "accepted": .bool(evaluation.error == nil),
        ]
        switch evaluation.verdict {
        case .success(let list):
            object["reason"] = "ok"
            object["ca_certificates"] = .int(list.cas.count)
            object["list_sha256"] = .string(list.listSHA256)
        case .failure(let error):
            object["reason"] = .string(error.code.rawValue)
            object["error"] = .string(error.reason)
        }
        object["signer"] = evaluation.signer.map { signer in
            var fields: [String: JSONValue] = ["subject": .string(signer.subject), "sha256": .string(signer.sha256),
                                               "pinned": .bool(signer.pinned)]
            fields["not_before"] = signer.notBefore.map { .string(Timestamp.text($0)) } ?? .null
            fields["not_after"] = signer.notAfter.map { .string(Timestamp.text($0)) } ?? .null
            return .object(fields)
        } ?? .null
        if let header = evaluation.header {
            object["sequence_number"] = .int(header.sequenceNumber)
            object["issue_date"] = header.issueDate.map { .string(Timestamp.text($0)) } ?? .null
            object["next_update"] = header.nextUpdate.map { .string(Timestamp.text($0)) } ?? .null
            object["territory"] = .string(header.territory)
        }
        if services {
            object["services"] = .array(evaluation.decisions.map(Self.json))
            object["taken"] = .int(evaluation.decisions.filter(\.taken).count)
            object["skipped"] = .int(evaluation.decisions.filter { !$0.taken }.count)
        }
        return .object(object)
    }

    static func json(_ decision: ServiceDecision) -> JSONValue {
        let service = decision.service
        var object: [String: JSONValue] = [
            "index": .int(service.index), "provider": .string(service.provider), "service": .string(service.name),
            "type": .string(service.type), "status": .string(service.status),
            "taken": .bool(decision.taken), "reason": .string(decision.reason.rawValue), "detail": .string(decision.detail),
        ]
        object["status_start"] = service.statusStart.map { .string(Timestamp.text($0)) } ?? .null
        object["certificate"] = decision.certificate.map { certificate in
            var fields: [String: JSONValue] = [
                "subject": .string(certificate.subject), "sha256": .string(certificate.sha256),
                "ca": .bool(certificate.isCA), "key": .string(certificate.key),
                "signature_algorithm": .string(certificate.signatureAlgorithm),
            ]
            fields["not_before"] = certificate.notBefore.map { .string(Timestamp.text($0)) } ?? .null
            fields["not_after"] = certificate.notAfter.map { .string(Timestamp.text($0)) } ?? .null
            return .object(fields)
        } ?? .null
        return .object(object)
    }
}
