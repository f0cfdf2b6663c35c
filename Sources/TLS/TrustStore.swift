import COpenSSL
import COpenSSLShims
public import FoundationEssentials
import Posix

/// What to do when revocation status cannot be established: a CA without a CRL, or a
/// CRL past its nextUpdate.
public enum RevocationPolicy: String, Sendable {
    case require
    case bestEffort = "best-effort"
}

/// Where the trust comes from, as the config names it.
public struct TrustSources: Sendable, Equatable {
    /// A PEM file or a directory of PEM/DER CA certificates; empty when the CAs come only
    /// from the imported trusted list.
    public var caBundle: String
    public var crls: [String]
    public var revocation: RevocationPolicy
    /// CA certificate file paths or SHA-256 fingerprints in hex (colons optional).
    public var legacyIssuers: [String]
    /// `[trust_list] directory`: the CAs imported from the trusted list, one `*.pem` each
    /// (other files there, such as the import's manifest, are not certificates). Missing
    /// until the first import.
    public var trustListDirectory: String?
    /// Seconds past its nextUpdate a CRL may still be used under `best-effort`; past that its
    /// CA's cards get `revocation_unavailable` in both modes (a blocked download must not
    /// keep a revoked card in for ever).
    public var maxCRLOverdue: Double

    public init(caBundle: String, crls: [String], revocation: RevocationPolicy, legacyIssuers: [String],
                trustListDirectory: String? = nil, maxCRLOverdue: Double = 86_400) {
        self.caBundle = caBundle
        self.crls = crls
        self.revocation = revocation
        self.legacyIssuers = legacyIssuers
        self.trustListDirectory = trustListDirectory
        self.maxCRLOverdue = maxCRLOverdue
    }

    /// Every file CA certificates are loaded from: the bundle (file or directory), then
    /// the imported list's `*.pem` files.
    public func caFiles() throws(TLSError) -> [String] {
        var files: [String] = []
        if !caBundle.isEmpty {
            files += PEMFile.isDirectory(caBundle) ? try PEMFile.directoryFiles(caBundle) : [caBundle]
        }
        if let trustListDirectory, PEMFile.isDirectory(trustListDirectory) {
            files += try PEMFile.directoryFiles(trustListDirectory).filter { $0.hasSuffix(".pem") }
        }
        return files
    }

    /// What the CA certificates are loaded from, for messages.
    var caOrigin: String {
        [caBundle.isEmpty ? nil : caBundle, trustListDirectory].compactMap { $0 }.joined(separator: " and ")
    }
}

/// A CA of the bundle and the state of its revocation data.
public struct CARevocation: Sendable, Equatable {
    public var subject: String
    /// Lowercase hex.
    public var sha256: String
    public var hasCRL: Bool
    /// The latest nextUpdate of its CRLs (`distantFuture` when one has none); nil without a CRL.
    public var nextUpdate: Date?
}

/// Freshness of one loaded CRL, for health output and metrics.
public struct CRLStatus: Sendable {
    public var issuer: String
    public var file: String
    public var lastUpdate: Date?
    public var nextUpdate: Date?
    public var entries: Int
}

/// The CA certificates and CRLs a generation trusts: built once, off the loop threads,
/// then shared read-only by every TLS context of that generation.
///
/// `@unchecked Sendable`: the X509_STORE is fully populated in `init` and only read
/// afterwards; OpenSSL's store lookups take the store's own lock.
public final class TrustStore: @unchecked Sendable {
    let store: OpaquePointer
    let caNames: [OpaquePointer]          // X509_NAME, owned, deduplicated
    let legacyFingerprints: Set<[UInt8]>
    public let revocation: RevocationPolicy
    /// See `TrustSources.maxCRLOverdue`.
    public let maxCRLOverdue: Double
    public let caCount: Int
    /// Every CA of the bundle with the state of its CRL.
    public let authorities: [CARevocation]
    /// The moments the state of some CA's CRL changes (nextUpdate, and nextUpdate plus the
    /// overdue bound), sorted: /healthz knows its cached answer still holds by counting how
    /// many have passed, without looking at every CA.
    private let transitions: [Date]
    public let crls: [CRLStatus]
    let certificates: [X509Certificate]
    /// Chains accepted under this generation's CAs and CRLs (see `VerifiedChainCache`).
    let verifiedChains: VerifiedChainCache

    public init(_ sources: TrustSources) throws(TLSError) {
        var certs: [(X509Certificate, String)] = []
        for file in try sources.caFiles() {
            let objects = try PEMFile.derObjects(path: file, labels: ["CERTIFICATE", "TRUSTED CERTIFICATE"])
            if objects.isEmpty { throw TLSError(.certificate, "\(file): no certificate in file") }
            for (i, der) in objects.enumerated() {
                guard let cert = X509Certificate(der: der) else {
                    throw TLSError(.certificate, "\(file): certificate \(i + 1) does not parse")
                }
                guard X509_check_ca(cert.pointer) != 0 else {
                    throw TLSError(.certificate, "\(file): certificate \(i + 1) is not a CA certificate")
                }
                certs.append((cert, file))
            }
        }
        if certs.isEmpty {
            let hint = sources.trustListDirectory == nil ? "" : " (import the trusted list first: cns-gateway trust-list import --config FILE)"
            throw TLSError(.certificate, "\(sources.caOrigin): no CA certificates\(hint)")
        }

        // CRLs: a CRL named like a CA of the bundle must be signed by one of them, or the file
        // is refused. Files unchanged since the last load are not read or verified again.
        var crlObjects: [(X509RevocationList, String, String)] = []
        var verifiedPairs: [(X509RevocationList, X509Certificate)] = []
        var loadedFiles: [String: CRLFileCache.Entry] = [:]
        for entry in sources.crls {
            let files = PEMFile.isDirectory(entry) ? try PEMFile.directoryFiles(entry) : [entry]
            for file in files {
                let loaded = try CRLFileCache.shared.load(file)
                loadedFiles[file] = loaded
                for i in loaded.crls.indices {
                    var crl = loaded.crls[i]
                    let issuerName = X509_CRL_get_issuer(crl.pointer)
                    // Read now: issuerName points into the CRL, which may be swapped below.
                    let issuerText = X509Inspector.name(issuerName)
                    // A CRL from a CA of the bundle must verify against it now. A CRL of
                    // an intermediate CA (which the client sends in its chain) is checked
                    // by OpenSSL against that CA during each verification.
                    let namesakes = certs.filter { cert, _ in X509_NAME_cmp(X509_get_subject_name(cert.pointer), issuerName) == 0 }
                    let signers = namesakes.filter { cert, _ in
                        let fingerprint = cert.sha256
                        if loaded.verifiedWith[i].contains(fingerprint) { return true }
                        guard crl.verify(with: cert) else { return false }
                        loaded.verifiedWith[i].insert(fingerprint)
                        return true
                    }
                    let signed = !signers.isEmpty
                    if !signed, crl.isCompact {
                        // Not verified here: OpenSSL checks its signature (and needs its entries)
                        // at each use, so it is kept whole, in the cache too.
                        guard let whole = crl.whole() else {
                            throw TLSError(.crl, "\(file): CRL \(i + 1) does not parse")
                        }
                        crl = whole
                        loaded.crls[i] = whole
                    }
                    verifiedPairs += signers.map { cert, _ in (crl, cert) }
                    OpenSSLErrorQueue.clear()
                    // A CRL whose AKI names a key no namesake has is the CRL of another CA
                    // of that name (one renewed with a new key, or one the trusted list just
                    // dropped while its CRL is still on disk): kept, like an intermediate's,
                    // and never offered for a CA of the bundle (TrustedCRLs.h).
                    let otherKey = !signed && X509Inspector.crlNamesAnotherKey(crl.pointer, than: namesakes.map(\.0.pointer))
                    guard namesakes.isEmpty || signed || otherKey else {
                        throw TLSError(.crl, "\(file): CRL \(i + 1) (issuer \(issuerText)) is not signed by any CA of the bundle")
                    }
                    crlObjects.append((crl, file, issuerText))
                }
                loaded.sortEntries()
            }
        }

        var legacy = Set<[UInt8]>()
        for spec in sources.legacyIssuers {
            legacy.insert(try TrustStore.fingerprint(of: spec))
        }

        guard let store = X509_STORE_new() else { throw TLSError.drainingQueue(.context, "X509_STORE_new") }
        // OpenSSL 3 keys the store by name but treats a certificate as a duplicate only when
        // it is byte-for-byte the same (X509_OBJECT_retrieve_match compares with X509_cmp):
        // a CA renewed under the same name with a new key is kept beside the old one, and
        // chain building picks the one whose key verifies.
        for (cert, file) in certs where X509_STORE_add_cert(store, cert.pointer) != 1 {
            // Duplicates are harmless; anything else is a real failure.
            let reason = OpenSSLErrorQueue.drain()
            if !reason.contains("already in hash table") {
                X509_STORE_free(store)
                throw TLSError(.certificate, "\(file): cannot add to trust store: \(reason)")
            }
        }
        for (crl, file, _) in crlObjects where X509_STORE_add_crl(store, crl.pointer) != 1 {
            let reason = OpenSSLErrorQueue.drain()
            if !reason.contains("already in hash table") {
                X509_STORE_free(store)
                throw TLSError(.crl, "\(file): cannot add to trust store: \(reason)")
            }
        }
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        // The signatures just verified are not verified again on every handshake (TrustedCRLs.h).
        for (crl, issuer) in verifiedPairs where (crl.compact.map { CNSCRL_store_add_verified_compact(store, $0, issuer.pointer) }
                                                  ?? CNSCRL_store_add_verified(store, crl.pointer, issuer.pointer)) != 1 {
            X509_STORE_free(store)
            throw TLSError.drainingQueue(.context, "recording a verified CRL")
        }
        guard CNSCRL_store_use_verified_crls(store) == 1 else {
            X509_STORE_free(store)
            throw TLSError.drainingQueue(.context, "installing the CRL check")
        }

        var names: [OpaquePointer] = []
        for (cert, _) in certs {
            let name = X509_get_subject_name(cert.pointer)
            if !names.contains(where: { X509_NAME_cmp($0, name) == 0 }), let copy = X509_NAME_dup(name) {
                names.append(copy)
            }
        }

        self.store = store
        self.caNames = names
        self.legacyFingerprints = legacy
        self.revocation = sources.revocation
        self.maxCRLOverdue = max(0, sources.maxCRLOverdue)
        self.caCount = certs.count
        self.certificates = certs.map(\.0)
        self.verifiedChains = VerifiedChainCache(crlNextUpdates: crlObjects.map { $0.0.nextUpdate })
        self.crls = crlObjects.map { crl, file, issuer in
            CRLStatus(issuer: issuer, file: file, lastUpdate: crl.lastUpdate, nextUpdate: crl.nextUpdate, entries: crl.entryCount)
        }
        // Per CA of the bundle (once per certificate): the latest nextUpdate of the CRLs its
        // key verified, nil when it has none.
        var seen = Set<[UInt8]>()
        var authorities: [CARevocation] = []
        for (cert, _) in certs where seen.insert(cert.sha256).inserted {
            let own = verifiedPairs.filter { $0.1 === cert }.map(\.0)
            let latest = own.compactMap(\.nextUpdate).max()
            authorities.append(CARevocation(subject: X509Inspector.name(X509_get_subject_name(cert.pointer)),
                                            sha256: cert.sha256.hexString, hasCRL: !own.isEmpty,
                                            nextUpdate: own.isEmpty ? nil : (latest ?? .distantFuture)))
        }
        self.authorities = authorities
        let overdueAfter = max(0, sources.maxCRLOverdue)
        // Every CRL's nextUpdate (intermediates' too: crls_fresh changes with them) and, for the
        // bundle's CAs, the end of the overdue bound.
        self.transitions = (crlObjects.compactMap { $0.0.nextUpdate }
            + authorities.compactMap(\.nextUpdate).filter { $0 != .distantFuture }.map { $0.addingTimeInterval(overdueAfter) }).sorted()
        CRLFileCache.shared.keep(loadedFiles)
    }

    deinit {
        X509_STORE_free(store)
        for name in caNames { X509_NAME_free(name) }
        // A large CRL (hundreds of megabytes in memory) freed here would otherwise stay in the
        // process's heap: ask the control thread to give the pages back.
        if crls.reduce(0, { $0 + $1.entries }) >= 10_000 { Posix.Process.requestHeapTrim() }
    }

    /// True when every CRL is within its validity window.
    public var crlsFresh: Bool {
        let now = Date()
        return crls.allSatisfy { ($0.nextUpdate ?? .distantFuture) > now }
    }

    /// How many of the CRL state changes have happened by `now`: the revocation state of
    /// every CA is the same for two moments with the same count.
    public func revocationEpoch(at now: Date = Date()) -> Int {
        var low = 0
        var high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= now { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The CAs whose revocation data is missing (no CRL), stale (past nextUpdate, still used
    /// under best-effort) or overdue (past nextUpdate by more than `maxCRLOverdue`: their
    /// cards get `revocation_unavailable`).
    public func revocationProblems(at now: Date = Date()) -> (missing: [CARevocation], stale: [CARevocation], overdue: [CARevocation]) {
        var missing: [CARevocation] = []
        var stale: [CARevocation] = []
        var overdue: [CARevocation] = []
        for authority in authorities {
            guard let next = authority.nextUpdate else {
                missing.append(authority)
                continue
            }
            if now.timeIntervalSince(next) > maxCRLOverdue {
                overdue.append(authority)
            } else if next <= now {
                stale.append(authority)
            }
        }
        return (missing, stale, overdue)
    }

    /// A legacy-issuer entry as a SHA-256 fingerprint: hex (colons optional) or a file path.
    static func fingerprint(of spec: String) throws(TLSError) -> [UInt8] {
        let hex = spec.replacing(":", with: "").lowercased()
        if hex.count == 64, hex.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return bytes
        }
        let objects = try PEMFile.derObjects(path: spec, labels: ["CERTIFICATE"])
        guard objects.count == 1, let cert = X509Certificate(der: objects[0]) else {
            throw TLSError(.certificate, "\(spec): legacy issuer must be one CA certificate or a SHA-256 fingerprint")
        }
        return cert.sha256
    }

    /// Adds this store's CA names to a new stack for CertificateRequest (caller owns it).
    func makeCANameStack() -> OpaquePointer? {
        guard let stack = CNSSSL_sk_X509_NAME_new_null() else { return nil }
        for name in caNames {
            if let copy = X509_NAME_dup(name) { _ = CNSSSL_sk_X509_NAME_push(stack, copy) }
        }
        return stack
    }
}
