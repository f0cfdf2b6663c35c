import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// A CA certificate of the bundle, as the CRL refresher needs it: who it is, who issued
/// it, and where its issuer publishes CRLs.
public struct BundleCA: Sendable {
    /// SHA-256 of the DER certificate, lowercase hex without colons.
    public var fingerprint: String
    public var subject: String
    public var der: [UInt8]
    /// Subject == issuer and the certificate verifies with its own key (a root).
    public var selfIssued: Bool
    /// Fingerprints of the bundle CAs whose key verifies this certificate.
    public var issuers: [String]
    /// http:// URIs of this certificate's CRL distribution points. For a root they name
    /// the root's own CRL; for any other CA they name its *issuer's* CRL (RFC 5280 4.2.1.13).
    public var distributionPoints: [String]
}

/// Why a fetched CRL was refused. `code` is what logs and tests key on.
public struct CRLRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unparsable, issuerMismatch = "issuer_mismatch", badSignature = "bad_signature"
        case notCRLSigner = "not_crl_signer", deltaCRL = "delta_crl", older, notNewer = "not_newer"
        case futureThisUpdate = "future_this_update", inconsistentDates = "inconsistent_dates"
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) { self.code = code; self.detail = detail }
    public var description: String { "\(code.rawValue): \(detail)" }
    public static func == (lhs: CRLRejection, rhs: CRLRejection) -> Bool { lhs.code == rhs.code }
}

/// A CRL that passed validation: its DER (when it was checked from bytes; a file checked in
/// place is its own copy) and what the log line reports.
public struct AcceptedCRL: Sendable {
    public var der: [UInt8]?
    public var crlNumber: String?
    public var thisUpdate: Date?
    public var nextUpdate: Date?
    public var entries: Int
}

public enum CRLCheck: Sendable {
    case accepted(AcceptedCRL)
    /// Byte-for-byte the CRL already in use.
    case unchanged
    case rejected(CRLRejection)
}

/// Checks a candidate CRL for one CA before it may replace the one in use: from bytes, or from
/// the file a download was streamed into (a CRL of tens of megabytes is never held twice).
public enum CRLValidation {
    /// Accepted clock skew for a CRL's thisUpdate.
    static let futureSkew: TimeInterval = 300

    /// The CA certificates of a bundle (file or directory), with issuer links and CDPs.
    public static func bundleCAs(_ bundle: String) throws(TLSError) -> [BundleCA] {
        try bundleCAs(TrustSources(caBundle: bundle, crls: [], revocation: .bestEffort, legacyIssuers: []))
    }

    /// The CA certificates of the bundle and of the imported trusted list.
    public static func bundleCAs(_ sources: TrustSources) throws(TLSError) -> [BundleCA] {
        let files = try sources.caFiles()
        var certs: [X509Certificate] = []
        for file in files {
            for (i, der) in try PEMFile.derObjects(path: file, labels: ["CERTIFICATE", "TRUSTED CERTIFICATE"]).enumerated() {
                guard let cert = X509Certificate(der: der) else {
                    throw TLSError(.certificate, "\(file): certificate \(i + 1) does not parse")
                }
                certs.append(cert)
            }
        }
        var result: [BundleCA] = []
        for cert in certs {
            var issuers: [String] = []
            for candidate in certs where X509_check_issued(candidate.pointer, cert.pointer) == X509_V_OK {
                if X509_verify(cert.pointer, X509_get0_pubkey(candidate.pointer)) == 1 {
                    issuers.append(candidate.sha256.hexString)
                }
            }
            OpenSSLErrorQueue.clear()
            let fingerprint = cert.sha256.hexString
            result.append(BundleCA(
                fingerprint: fingerprint,
                subject: X509Inspector.name(X509_get_subject_name(cert.pointer)),
                der: X509Inspector.der(cert.pointer),
                selfIssued: issuers.contains(fingerprint),
                issuers: issuers.filter { $0 != fingerprint },
                distributionPoints: httpDistributionPoints(cert.pointer)))
        }
        return result
    }

    /// The newest CRL of `ca` among files and directories `paths` (PEM or DER), by the same
    /// rule a replacement must pass; nil when none of them is the CA's. Files the last load
    /// read and that have not changed since are not parsed again.
    static func currentList(of ca: BundleCA, in paths: [String]) -> X509RevocationList? {
        guard let caCert = X509Certificate(der: ca.der) else { return nil }
        var best: X509RevocationList?
        for entry in paths {
            let files = PEMFile.isDirectory(entry) ? ((try? PEMFile.directoryFiles(entry)) ?? []) : [entry]
            for file in files {
                guard let loaded = try? CRLFileCache.shared.load(file) else { continue }
                for crl in loaded.crls where issuedBy(crl, caCert) {
                    if let current = best, compare(crl, current) != .orderedDescending { continue }
                    best = crl
                }
            }
        }
        OpenSSLErrorQueue.clear()
        return best
    }

    /// The DER of `currentList`, for callers outside the module.
    public static func currentCRL(of ca: BundleCA, in paths: [String]) -> [UInt8]? {
        currentList(of: ca, in: paths).map(\.der)
    }

    /// Validates `candidate` (PEM or DER) as the next CRL of `ca`, given the one in use.
    public static func check(_ candidate: [UInt8], ca: BundleCA, current: [UInt8]?, now: Date = Date()) -> CRLCheck {
        defer { OpenSSLErrorQueue.clear() }
        let objects = (try? PEMFile.derObjects(bytes: candidate, labels: ["X509 CRL"], origin: "response")) ?? []
        guard objects.count == 1, let crl = X509RevocationList(der: objects[0]) else {
            return .rejected(CRLRejection(.unparsable, "the response is not one PEM or DER CRL (\(candidate.count) bytes)"))
        }
        let old = current.flatMap { try? PEMFile.derObjects(bytes: $0, labels: ["X509 CRL"], origin: "current") }?.first
            .flatMap { X509RevocationList(der: $0) }
        var result = check(crl, ca: ca, current: old, now: now)
        if case .accepted(var accepted) = result {
            accepted.der = crl.der
            result = .accepted(accepted)
        }
        return result
    }

    /// Validates the CRL in file `path` (PEM or DER, read through OpenSSL's BIO: a download
    /// streamed to disk) as the next CRL of `ca`, against the newest one in `currentIn`.
    public static func check(file path: String, ca: BundleCA, currentIn paths: [String], now: Date = Date()) -> CRLCheck {
        defer { OpenSSLErrorQueue.clear() }
        let crls: [X509RevocationList]
        do {
            crls = try CRLFileCache.read(path)
        } catch {
            return .rejected(CRLRejection(.unparsable, "the response is not a PEM or DER CRL: \(error.reason)"))
        }
        guard crls.count == 1 else {
            return .rejected(CRLRejection(.unparsable, "the response holds \(crls.count) CRLs, not one"))
        }
        return check(crls[0], ca: ca, current: currentList(of: ca, in: paths), now: now)
    }

    static func check(_ crl: X509RevocationList, ca: BundleCA, current old: X509RevocationList?, now: Date) -> CRLCheck {
        guard let caCert = X509Certificate(der: ca.der) else {
            return .rejected(CRLRejection(.unparsable, "the CA certificate does not parse"))
        }
        let issuer = X509_CRL_get_issuer(crl.pointer)
        guard X509_NAME_cmp(issuer, X509_get_subject_name(caCert.pointer)) == 0 else {
            return .rejected(CRLRejection(.issuerMismatch, "CRL issuer \"\(X509Inspector.name(issuer))\" is not \"\(ca.subject)\""))
        }
        guard crl.verify(with: caCert) else {
            return .rejected(CRLRejection(.badSignature, "the CRL's signature does not verify with the CA's key"))
        }
        // X509_get_key_usage is all ones when the extension is absent (any use allowed).
        guard X509_get_key_usage(caCert.pointer) & UInt32(KU_CRL_SIGN) != 0 else {
            return .rejected(CRLRejection(.notCRLSigner, "the CA's keyUsage does not include cRLSign"))
        }
        // A delta CRL lists only changes since a base CRL: alone it would un-revoke cards.
        guard X509_CRL_get_ext_by_NID(crl.pointer, NID_delta_crl, -1) < 0 else {
            return .rejected(CRLRejection(.deltaCRL, "delta CRLs are not supported"))
        }
        guard let thisUpdate = crl.lastUpdate else {
            return .rejected(CRLRejection(.unparsable, "the CRL has no readable thisUpdate"))
        }
        if thisUpdate.timeIntervalSince(now) > futureSkew {
            return .rejected(CRLRejection(.futureThisUpdate, "thisUpdate \(thisUpdate) is in the future"))
        }
        if let next = crl.nextUpdate, next <= thisUpdate {
            return .rejected(CRLRejection(.inconsistentDates, "nextUpdate is not after thisUpdate"))
        }
        if let old {
            // Both verify with the CA's key: the same signature value is the same signed content.
            if sameSignature(crl, old) { return .unchanged }
            switch compare(crl, old) {
            case .orderedAscending:
                return .rejected(CRLRejection(.older, "older than the CRL in use (\(describe(crl)) < \(describe(old)))"))
            case .orderedSame:
                return .rejected(CRLRejection(.notNewer, "same CRL number and thisUpdate as the CRL in use, different content"))
            case .orderedDescending:
                break
            }
        }
        return .accepted(AcceptedCRL(der: nil, crlNumber: crlNumber(crl), thisUpdate: thisUpdate,
                                     nextUpdate: crl.nextUpdate, entries: crl.entryCount))
    }

    private static func sameSignature(_ a: X509RevocationList, _ b: X509RevocationList) -> Bool {
        var signatureA: UnsafePointer<ASN1_BIT_STRING>?
        var signatureB: UnsafePointer<ASN1_BIT_STRING>?
        X509_CRL_get0_signature(a.pointer, &signatureA, nil)
        X509_CRL_get0_signature(b.pointer, &signatureB, nil)
        guard let signatureA, let signatureB else { return false }
        return ASN1_STRING_cmp(signatureA, signatureB) == 0
    }

    // MARK: - helpers

    private static func issuedBy(_ crl: X509RevocationList, _ ca: X509Certificate) -> Bool {
        X509_NAME_cmp(X509_CRL_get_issuer(crl.pointer), X509_get_subject_name(ca.pointer)) == 0 && crl.verify(with: ca)
    }

    /// Newer = a higher cRLNumber when both carry one (RFC 5280 5.2.3: monotonically
    /// increasing), otherwise a later thisUpdate.
    private static func compare(_ a: X509RevocationList, _ b: X509RevocationList) -> ComparisonResult {
        let numberA = X509_CRL_get_ext_d2i(a.pointer, NID_crl_number, nil, nil)?.assumingMemoryBound(to: ASN1_INTEGER.self)
        let numberB = X509_CRL_get_ext_d2i(b.pointer, NID_crl_number, nil, nil)?.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer {
            if let numberA { ASN1_INTEGER_free(numberA) }
            if let numberB { ASN1_INTEGER_free(numberB) }
        }
        if let numberA, let numberB {
            let c = ASN1_INTEGER_cmp(numberA, numberB)
            if c != 0 { return c < 0 ? .orderedAscending : .orderedDescending }
        }
        let c = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(a.pointer), X509_CRL_get0_lastUpdate(b.pointer))
        return c < 0 ? .orderedAscending : (c > 0 ? .orderedDescending : .orderedSame)
    }

    private static func crlNumber(_ crl: X509RevocationList) -> String? {
        guard let raw = X509_CRL_get_ext_d2i(crl.pointer, NID_crl_number, nil, nil) else { return nil }
        let number = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(number) }
        guard let bn = ASN1_INTEGER_to_BN(number, nil) else { return nil }
        defer { BN_free(bn) }
        guard let text = BN_bn2dec(bn) else { return nil }
        defer { CNSSSL_OPENSSL_free(text) }
        return String(cString: text)
    }

    private static func describe(_ crl: X509RevocationList) -> String {
        "number \(crlNumber(crl) ?? "none"), thisUpdate \(crl.lastUpdate.map { "\($0)" } ?? "?")"
    }

    /// The http:// full-name URIs of a certificate's CRL distribution points. ldap:// and
    /// relative names are skipped: the refresher speaks plain HTTP only.
    static func httpDistributionPoints(_ cert: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(cert, NID_crl_distribution_points, nil, nil) else { return [] }
        let points = OpaquePointer(raw)
        defer { CRL_DIST_POINTS_free(points) }
        var uris: [String] = []
        for i in 0..<CNSCRL_sk_DIST_POINT_num(points) {
            guard let point = CNSCRL_sk_DIST_POINT_value(points, i), let name = point.pointee.distpoint,
                  name.pointee.type == 0, let fullName = name.pointee.name.fullname else { continue }
            for j in 0..<CNSCRL_sk_GENERAL_NAME_num(fullName) {
                guard let general = CNSCRL_sk_GENERAL_NAME_value(fullName, j), general.pointee.type == GEN_URI,
                      let uri = general.pointee.d.uniformResourceIdentifier,
                      let data = ASN1_STRING_get0_data(uri) else { continue }
                let text = String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(uri))), as: UTF8.self)
                if text.lowercased().hasPrefix("http://") { uris.append(text) }
            }
        }
        return uris
    }
}

extension X509Inspector {
    static func crlDER(_ crl: OpaquePointer) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509_CRL(crl, &out)
        guard length > 0, let out else { return [] }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
