#if canImport(Glibc)
import Glibc
#endif
public import FoundationEssentials
import JSON
import Posix

/// What an import wrote, kept beside the CA files: where each CA came from, and the list's
/// sequence number, which the next import must not go below.
public struct TrustListManifest: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var sha256: String
        public var subject: String
        public var provider: String
        public var service: String
        public var serviceType: String
        public var status: String
        public var statusStart: Date?
        public var notAfter: Date?
    }

    public var sequenceNumber: Int
    public var issueDate: Date?
    public var nextUpdate: Date?
    public var source: String
    public var listSHA256: String
    public var signerSHA256: String
    public var signerSubject: String
    public var importedAt: Date
    public var entries: [Entry]
}

/// The outcome of `TrustListDirectory.apply`: the log names every CA added and removed.
public struct TrustListApplied: Sendable {
    public var added: [TrustListManifest.Entry]
    public var removed: [TrustListManifest.Entry]
    public var kept: Int
    public var manifest: TrustListManifest
    /// Sequence number of the list applied before, if any.
    public var previousSequenceNumber: Int?
}

/// The directory the trust store loads the imported CAs from (`[trust_list] directory`):
/// one `<SHA-256>.pem` per CA and the manifest `trust-list.json`.
///
/// Every file is replaced atomically (`AtomicFile`). The order makes any crash or
/// concurrent reload see a safe state: new CA files first, then the manifest (which holds
/// the new sequence number), then the stale CA files go. A reload in between trusts the
/// union of both lists for a moment, never a half-written certificate.
public struct TrustListDirectory: Sendable {
    public static let manifestName = "trust-list.json"

    public let path: String

    public init(path: String) { self.path = path }

    /// The manifest of the last import; nil before the first one.
    public func manifest() throws(TrustListError) -> TrustListManifest? {
        let file = "\(path)/\(Self.manifestName)"
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file), let value = JSONValue.decode(data),
              let manifest = TrustListManifest(json: value) else {
            throw TrustListError(.unreadable, "\(file): not a trust-list manifest; remove the directory's content to import afresh")
        }
        return manifest
    }

    /// CA files present now (names `<64 hex>.pem`), by fingerprint.
    func caFiles() -> Set<String> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return Set(names.compactMap { name -> String? in
            guard name.hasSuffix(".pem") else { return nil }
            let stem = String(name.dropLast(4))
            return stem.count == 64 && stem.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) ? stem : nil
        })
    }

    public func apply(_ list: VerifiedTrustList, source: String, now: Date = Date()) throws(TrustListError) -> TrustListApplied {
        var isDirectory = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw TrustListError(.applyFailed, "\(path): cannot create the directory: \(error)")
            }
        } else if !isDirectory {
            throw TrustListError(.applyFailed, "\(path): not a directory")
        }
        let previous = try? manifest()
        let present = caFiles()
        let entries = list.cas.map { ca in
            TrustListManifest.Entry(sha256: ca.certificate.sha256, subject: ca.certificate.subject, provider: ca.provider,
                                    service: ca.service, serviceType: ca.serviceType, status: ca.status,
                                    statusStart: ca.statusStart, notAfter: ca.certificate.notAfter)
        }
        for ca in list.cas {
            let file = "\(path)/\(ca.certificate.sha256).pem"
            let pem = Array(ca.certificate.pem.utf8)
            if present.contains(ca.certificate.sha256), let current = FileManager.default.contents(atPath: file), [UInt8](current) == pem {
                continue
            }
            do {
                try AtomicFile.write(pem, to: file, mode: 0o644)
            } catch {
                throw TrustListError(.applyFailed, "\(file): \(error)")
            }
        }
        let manifest = TrustListManifest(
            sequenceNumber: list.header.sequenceNumber, issueDate: list.header.issueDate, nextUpdate: list.header.nextUpdate,
            source: source, listSHA256: list.listSHA256, signerSHA256: list.signer.sha256, signerSubject: list.signer.subject,
            importedAt: now, entries: entries)
        do {
            try AtomicFile.write(Array((manifest.json.prettyText + "\n").utf8), to: "\(path)/\(Self.manifestName)", mode: 0o644)
        } catch {
            throw TrustListError(.applyFailed, "\(path)/\(Self.manifestName): \(error)")
        }
        let wanted = Set(entries.map(\.sha256))
        let stale = present.subtracting(wanted)
        for fingerprint in stale.sorted() {
            unlink("\(path)/\(fingerprint).pem")
        }
        if !stale.isEmpty { AtomicFileWriter.syncDirectory(of: "\(path)/\(Self.manifestName)") }

        let before = Dictionary((previous?.entries ?? []).map { ($0.sha256, $0) }, uniquingKeysWith: { first, _ in first })
        let known = present.union(before.keys)
        let added = entries.filter { !known.contains($0.sha256) }
        let removed = known.subtracting(wanted).sorted().map { fingerprint in
            before[fingerprint] ?? TrustListManifest.Entry(sha256: fingerprint, subject: "(not in the previous manifest)", provider: "",
                                                           service: "", serviceType: "", status: "", statusStart: nil, notAfter: nil)
        }
        return TrustListApplied(added: added, removed: removed, kept: entries.count - added.count, manifest: manifest,
                                previousSequenceNumber: previous?.sequenceNumber)
    }
}

extension TrustListManifest {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "sequence_number": .int(sequenceNumber), "source": .string(source), "list_sha256": .string(listSHA256),
            "signer_sha256": .string(signerSHA256), "signer_subject": .string(signerSubject),
            "imported_at": .string(Timestamp.text(importedAt)),
            "certificates": .array(entries.map(\.json)),
        ]
        object["issue_date"] = issueDate.map { .string(Timestamp.text($0)) } ?? .null
        object["next_update"] = nextUpdate.map { .string(Timestamp.text($0)) } ?? .null
        return .object(object)
    }

    init?(json: JSONValue) {
        guard let sequence = json["sequence_number"]?.intValue, let certificates = json["certificates"]?.arrayValue else { return nil }
        var entries: [Entry] = []
        for item in certificates {
            guard let entry = Entry(json: item) else { return nil }
            entries.append(entry)
        }
        self.init(sequenceNumber: sequence,
                  issueDate: json["issue_date"]?.stringValue.flatMap(Timestamp.parse),
                  nextUpdate: json["next_update"]?.stringValue.flatMap(Timestamp.parse),
                  source: json["source"]?.stringValue ?? "", listSHA256: json["list_sha256"]?.stringValue ?? "",
                  signerSHA256: json["signer_sha256"]?.stringValue ?? "", signerSubject: json["signer_subject"]?.stringValue ?? "",
                  importedAt: json["imported_at"]?.stringValue.flatMap(Timestamp.parse) ?? Date(timeIntervalSince1970: 0),
                  entries: entries)
    }
}

extension TrustListManifest.Entry {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "sha256": .string(sha256), "subject": .string(subject), "provider": .string(provider),
            "service": .string(service), "service_type": .string(serviceType), "status": .string(status),
        ]
        object["status_start"] = statusStart.map { .string(Timestamp.text($0)) } ?? .null
        object["not_after"] = notAfter.map { .string(Timestamp.text($0)) } ?? .null
        return .object(object)
    }

    init?(json: JSONValue) {
        guard let sha256 = json["sha256"]?.stringValue else { return nil }
        self.init(sha256: sha256, subject: json["subject"]?.stringValue ?? "", provider: json["provider"]?.stringValue ?? "",
                  service: json["service"]?.stringValue ?? "", serviceType: json["service_type"]?.stringValue ?? "",
                  status: json["status"]?.stringValue ?? "",
                  statusStart: json["status_start"]?.stringValue.flatMap(Timestamp.parse),
                  notAfter: json["not_after"]?.stringValue.flatMap(Timestamp.parse))
    }
}
