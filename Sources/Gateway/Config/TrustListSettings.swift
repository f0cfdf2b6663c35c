import FoundationEssentials
import TLS
public import TrustList

/// `[trust_list]`: the CA list taken from a signed ETSI TS 119 612 trusted list (AgID's
/// TSL-IT), verified and written to `directory`, which the trust store loads beside (or
/// instead of) `trust.ca_bundle`.
public struct TrustListSettings: Sendable, Equatable {
    /// Where the list comes from; nil when only `trust-list import FILE` is used.
    public var source: TrustListSource?
    /// `signer_certificates` as configured (resolved file paths, or fingerprints).
    public var signerCertificates: [String]
    public var policy: TrustListPolicy
    /// Seconds between scheduled imports.
    public var refreshInterval: Double
    /// Absolute path; the imported CAs (`<SHA-256>.pem`) and `trust-list.json`.
    public var directory: String

    static let keys: Set<String> = [
        "source", "signer_certificates", "service_types", "service_statuses", "refresh_interval", "max_size",
        "next_update_grace", "directory",
    ]

    static let defaultMaxSize = 16 << 20
    static let defaultRefreshInterval: Double = 21_600

    /// Reads `[trust_list]`; nil when the table is absent. Points `trust` at the directory.
    static func parse(_ root: [String: ConfigValue], reader: ConfigReader, stateDirectory: String?,
                      trust: inout TrustSources) -> TrustListSettings? {
        guard let table = reader.optionalTable(root, "trust_list", allowed: keys) else { return nil }
        let path = "trust_list"

        var source: TrustListSource? = nil
        if let text = reader.string(table, "source", path: path, default: ""), !text.isEmpty {
            let parsed = TrustListSource(text, relativeTo: reader.baseDirectory)
            switch parsed {
            case .url(let url):
                if url.contains(where: { $0 == " " || $0.isNewline }) || url.split(separator: "/").count < 2 {
                    reader.problem("\(path).source", "\"\(url)\" is not a URL")
                } else {
                    source = parsed
                }
            case .file(let file):
                if let resolved = reader.checkPath(file, keyPath: "\(path).source", mustBe: .file) {
                    source = .file(resolved)
                }
            }
        }

        var pins = Set<String>()
        var signers: [String] = []
        let signerEntries = reader.stringArray(table, "signer_certificates", path: path, default: [])
        if table["signer_certificates"] == nil || signerEntries.isEmpty {
            reader.problem("\(path).signer_certificates",
                           "required: the certificates allowed to sign the list (PEM files or SHA-256 fingerprints)")
        }
        for (i, entry) in signerEntries.enumerated() {
            let keyPath = "\(path).signer_certificates[\(i)]"
            let hex = entry.replacing(":", with: "").lowercased()
            if hex.count == 64, hex.allSatisfy(\.isHexDigit) {
                pins.insert(hex)
                signers.append(entry)
                continue
            }
            guard let file = reader.checkPath(entry, keyPath: keyPath, mustBe: .file) else { continue }
            do {
                for der in try CertificateFile.load(path: file) {
                    guard let certificate = CertificateSummary(der: der) else {
                        reader.problem(keyPath, "\(file): a certificate does not parse")
                        continue
                    }
                    pins.insert(certificate.sha256)
                }
                signers.append(file)
            } catch {
                reader.problem(keyPath, "\(error.reason) (expected a PEM/DER certificate or a SHA-256 fingerprint)")
            }
        }

        let types = reader.stringArray(table, "service_types", path: path, default: [TrustListPolicy.identityVerification])
        if types.isEmpty { reader.problem("\(path).service_types", "must name at least one ServiceTypeIdentifier URI") }
        let statuses = reader.stringArray(table, "service_statuses", path: path,
                                          default: [TrustListPolicy.recognisedAtNationalLevel, TrustListPolicy.granted])
        if statuses.isEmpty { reader.problem("\(path).service_statuses", "must name at least one ServiceStatus URI") }
        for (i, uri) in types.enumerated() where !uri.hasPrefix("http://") {
            reader.problem("\(path).service_types[\(i)]", "\"\(uri)\" is not a ServiceTypeIdentifier URI (http://uri.etsi.org/TrstSvc/Svctype/...)")
        }
        for (i, uri) in statuses.enumerated() where !uri.hasPrefix("http://") {
            reader.problem("\(path).service_statuses[\(i)]", "\"\(uri)\" is not a ServiceStatus URI (http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/...)")
        }
        let interval = reader.double(table, "refresh_interval", path: path, default: defaultRefreshInterval, range: 1...2_592_000)
        let maxSize = reader.int(table, "max_size", path: path, default: defaultMaxSize, range: 1024...(256 << 20))
        let grace = reader.double(table, "next_update_grace", path: path, default: 0, range: 0...31_536_000)

        let configured = reader.string(table, "directory", path: path, default: "") ?? ""
        let directory: String
        if !configured.isEmpty {
            directory = configured.hasPrefix("/") ? configured : "\(reader.baseDirectory)/\(configured)"
        } else if let stateDirectory {
            directory = "\(stateDirectory)/trust-list"
        } else {
            reader.problem("\(path).directory", "needed when [server] state_dir is not set")
            return nil
        }
        var isDirectory = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            if !isDirectory { reader.problem("\(path).directory", "\(directory): is not a directory") }
        } else {
            let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory {
                reader.problem("\(path).directory", "\(directory): neither it nor its parent directory exists")
            }
        }
        trust.trustListDirectory = directory
        return TrustListSettings(
            source: source, signerCertificates: signers,
            policy: TrustListPolicy(signerFingerprints: pins, serviceTypes: types, serviceStatuses: statuses,
                                    maxSize: maxSize, nextUpdateGrace: grace),
            refreshInterval: interval, directory: directory)
    }
}
