import COpenSSL
import COpenSSLShims
import FoundationEssentials

/// Our chain policy, applied to an initialised `X509_STORE_CTX`: OpenSSL builds and
/// checks the chain with CRLs, every error it reports is recorded (not fatal), the
/// legacy-strength rule is applied on top, and the most telling error becomes the
/// verdict. Used by the handshake callback and by `inspect-cert`, so both say the same.
enum ChainVerifier {
    /// The store-context ex_data slot holding the record of the verification running in it.
    static let recordIndex: Int32 = CNSSSL_X509_STORE_CTX_get_ex_new_index()

    final class Record {
        let revocation: RevocationPolicy
        /// Seconds past nextUpdate a CRL is still used under best-effort.
        let maxCRLOverdue: Double
        var errors: [Int32] = []
        var ignoredRevocationGaps = 0
        var crlGapAtLeaf = false
        var crlGapAboveLeaf = false

        init(revocation: RevocationPolicy, maxCRLOverdue: Double = 86_400) {
            self.revocation = revocation
            self.maxCRLOverdue = maxCRLOverdue
        }

        func record(_ code: Int32) {
            if !errors.contains(code) { errors.append(code) }
        }

        /// The most telling error, or X509_V_OK.
        var decisive: Int32 {
            errors.min { CertificateReason.from(verifyError: $0).priority < CertificateReason.from(verifyError: $1).priority }
                ?? X509_V_OK
        }
    }

    static func run(_ storeCtx: OpaquePointer, trust: TrustStore) -> CertificateVerdict {
        let record = Record(revocation: trust.revocation, maxCRLOverdue: trust.maxCRLOverdue)
        let param = X509_STORE_CTX_get0_param(storeCtx)
        // Weak keys and digests are judged below against legacy_issuers, not by
        // OpenSSL's global security level.
        X509_VERIFY_PARAM_set_auth_level(param, 0)
        X509_VERIFY_PARAM_set_flags(param, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        X509_STORE_CTX_set_verify_cb(storeCtx, recordingVerifyCallback)
        let result = withExtendedLifetime(record) { () -> Int32 in
            X509_STORE_CTX_set_ex_data(storeCtx, recordIndex, Unmanaged.passUnretained(record).toOpaque())
            defer { X509_STORE_CTX_set_ex_data(storeCtx, recordIndex, nil) }
            return X509_verify_cert(storeCtx)
        }
        if result <= 0 && record.errors.isEmpty {
            record.record(X509_STORE_CTX_get_error(storeCtx))
        }
        checkLegacyStrength(storeCtx, trust: trust, record: record)
        OpenSSLErrorQueue.clear()
        let decisive = record.decisive
        X509_STORE_CTX_set_error(storeCtx, decisive)
        var verdict = CertificateVerdict(reason: CertificateReason.from(verifyError: decisive), opensslCode: decisive)
        verdict.crlGapAtLeaf = record.crlGapAtLeaf
        verdict.crlGapAboveLeaf = record.crlGapAboveLeaf
        verdict.authority = CertificateVerdict.authority(builtIn: storeCtx)
        return verdict
    }

    /// RSA-1024 keys and SHA-1 signatures anywhere in the chain (except the trust
    /// anchor's self-signature) are allowed only under a CA listed in legacy_issuers.
    private static func checkLegacyStrength(_ storeCtx: OpaquePointer, trust: TrustStore, record: Record) {
        guard let chain = X509_STORE_CTX_get0_chain(storeCtx) else { return }
        let count = CNSSSL_sk_X509_num(chain)
        var weakCode: Int32? = nil
        var tooWeakEvenForLegacy = false
        var underLegacyIssuer = false
        for i in 0..<count {
            guard let cert = CNSSSL_sk_X509_value(chain, i) else { continue }
            let keyBits = X509Inspector.keySecurityBits(cert)
            if keyBits < 112 {
                weakCode = weakCode ?? (i == 0 ? X509_V_ERR_EE_KEY_TOO_SMALL : X509_V_ERR_CA_KEY_TOO_SMALL)
                if keyBits < 80 { tooWeakEvenForLegacy = true }
            }
            let isAnchorSelfSignature = i == count - 1 && X509Inspector.isSelfSigned(cert)
            if !isAnchorSelfSignature {
                let sigBits = X509Inspector.signatureSecurityBits(cert)
                if sigBits < 112 {
                    weakCode = weakCode ?? X509_V_ERR_CA_MD_TOO_WEAK
                    if sigBits < 63 { tooWeakEvenForLegacy = true }
                }
            }
            if i > 0, !trust.legacyFingerprints.isEmpty, trust.legacyFingerprints.contains(X509Inspector.sha256(cert)) {
                underLegacyIssuer = true
            }
        }
        if let weakCode, !underLegacyIssuer || tooWeakEvenForLegacy {
            record.record(weakCode)
        }
    }
}

/// Per-certificate callback: records every problem and lets verification continue, so
/// the verdict can pick the most telling one. Under `best-effort` revocation a missing CRL is
/// tolerated, and so is a CRL past its nextUpdate for at most `maxCRLOverdue`.
private func recordingVerifyCallback(_ ok: Int32, _ storeCtx: OpaquePointer?) -> Int32 {
    guard ok == 0, let storeCtx, let raw = X509_STORE_CTX_get_ex_data(storeCtx, ChainVerifier.recordIndex) else { return 1 }
    let record = Unmanaged<ChainVerifier.Record>.fromOpaque(raw).takeUnretainedValue()
    let code = X509_STORE_CTX_get_error(storeCtx)
    if CertificateReason.from(verifyError: code) == .revocationUnavailable {
        let depth = X509_STORE_CTX_get_error_depth(storeCtx)
        if depth == 0 {
            record.crlGapAtLeaf = true
        } else if let cert = X509_STORE_CTX_get_current_cert(storeCtx), !X509Inspector.isSelfSigned(cert) {
            record.crlGapAboveLeaf = true
        }
    }
    if record.revocation == .bestEffort && code == X509_V_ERR_UNABLE_TO_GET_CRL {
        record.ignoredRevocationGaps += 1
    } else if record.revocation == .bestEffort && code == X509_V_ERR_CRL_HAS_EXPIRED && withinOverdueBound(storeCtx, record) {
        record.ignoredRevocationGaps += 1
    } else {
        record.record(code)
    }
    return 1
}

/// Whether the CRL being checked is past its nextUpdate by no more than the bound.
private func withinOverdueBound(_ storeCtx: OpaquePointer, _ record: ChainVerifier.Record) -> Bool {
    guard let crl = X509_STORE_CTX_get0_current_crl(storeCtx),
          let next = X509Inspector.date(X509_CRL_get0_nextUpdate(crl)) else { return false }
    return Date().timeIntervalSince(next) <= record.maxCRLOverdue
}

extension TrustStore {
    /// The verdict the gateway would give a client presenting `leafDER` (and
    /// `intermediatesDER` in its Certificate message), without a handshake. The untrusted
    /// certificates are laid out as a TLS server lays out a received chain (the leaf first,
    /// then the rest), so with `useCache` a chain accepted in a handshake of this generation
    /// is answered from the verified-chain cache, and the other way round. `inspect-cert`
    /// always verifies afresh.
    public func verify(leafDER: [UInt8], intermediatesDER: [[UInt8]] = [], useCache: Bool = false) -> CertificateVerdict {
        guard let leaf = X509Certificate(der: leafDER) else {
            return CertificateVerdict(reason: .malformedCertificate, opensslCode: X509_V_ERR_UNSPECIFIED)
        }
        let intermediates = intermediatesDER.compactMap { X509Certificate(der: $0) }
        guard intermediates.count == intermediatesDER.count else {
            return CertificateVerdict(reason: .malformedCertificate, opensslCode: X509_V_ERR_UNSPECIFIED)
        }
        guard let ctx = X509_STORE_CTX_new(), let untrusted = CNSSSL_sk_X509_new_null() else {
            return CertificateVerdict(reason: .malformedCertificate, opensslCode: X509_V_ERR_OUT_OF_MEM)
        }
        defer {
            X509_STORE_CTX_free(ctx)
            CNSSSL_sk_X509_free(untrusted)
        }
        for cert in [leaf] + intermediates { _ = CNSSSL_sk_X509_push(untrusted, cert.pointer) }
        return withExtendedLifetime((leaf, intermediates)) {
            guard X509_STORE_CTX_init(ctx, store, leaf.pointer, untrusted) == 1 else {
                OpenSSLErrorQueue.clear()
                return CertificateVerdict(reason: .malformedCertificate, opensslCode: X509_V_ERR_UNSPECIFIED)
            }
            // The same purpose the TLS server applies to client certificates.
            _ = X509_STORE_CTX_set_default(ctx, "ssl_client")
            return useCache ? ChainVerifier.cachedRun(ctx, trust: self) : ChainVerifier.run(ctx, trust: self)
        }
    }
}
