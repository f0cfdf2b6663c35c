import COpenSSL
import COpenSSLShims

/// Why a client certificate was or was not accepted. The raw value is the reason code
/// that names the citizen's page, the log field, the audit record and the metric label.
public enum CertificateReason: String, Sendable, CaseIterable {
    case ok
    case noCertificate = "no_certificate"
    case unknownIssuer = "unknown_issuer"
    case expired
    case notYetValid = "not_yet_valid"
    case revoked
    case revocationUnavailable = "revocation_unavailable"
    case weakLegacyKey = "weak_legacy_key"
    case badSignature = "bad_signature"
    case malformedCertificate = "malformed_certificate"
    /// The chain is fine but the certificate may not be used for client authentication
    /// (keyUsage / extendedKeyUsage): typically the card's signing certificate.
    case signatureCertificate = "signature_certificate"

    /// When several problems are found, the one that tells the citizen most wins:
    /// a forged or foreign certificate before a revoked one before an expired one.
    var priority: Int {
        switch self {
        case .badSignature: 0
        case .unknownIssuer: 1
        case .malformedCertificate: 2
        case .revoked: 3
        case .expired: 4
        case .notYetValid: 5
        case .signatureCertificate: 6
        case .weakLegacyKey: 7
        case .revocationUnavailable: 8
        case .noCertificate: 9
        case .ok: 10
        }
    }

    /// Our reason for one X509_V_ERR_* code.
    static func from(verifyError code: Int32) -> CertificateReason {
        switch code {
        case X509_V_OK: .ok
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_CERT_REJECTED,
             X509_V_ERR_CERT_CHAIN_TOO_LONG, X509_V_ERR_INVALID_CA, X509_V_ERR_PATH_LENGTH_EXCEEDED,
             X509_V_ERR_INVALID_NON_CA:
            .unknownIssuer
        case X509_V_ERR_CERT_HAS_EXPIRED: .expired
        case X509_V_ERR_CERT_NOT_YET_VALID: .notYetValid
        case X509_V_ERR_CERT_REVOKED: .revoked
        case X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID,
             X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_CRL_SIGNATURE_FAILURE,
             X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, X509_V_ERR_DIFFERENT_CRL_SCOPE,
             X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD,
             X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD, X509_V_ERR_OCSP_VERIFY_NEEDED, X509_V_ERR_OCSP_VERIFY_FAILED,
             X509_V_ERR_OCSP_CERT_UNKNOWN:
            .revocationUnavailable
        case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE,
             X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
            .badSignature
        case X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_CA_MD_TOO_WEAK:
            .weakLegacyKey
        case X509_V_ERR_INVALID_PURPOSE:
            .signatureCertificate
        default:
            .malformedCertificate
        }
    }
}

/// The verdict on the peer's certificate: our reason plus OpenSSL's own code.
public struct CertificateVerdict: Sendable, Equatable {
    public var reason: CertificateReason
    public var opensslCode: Int32
    public var opensslError: String
    /// Where the chain's revocation could not be established from a CRL (none loaded, past its
    /// nextUpdate, or unusable), whether best-effort let it pass or not: for the card itself,
    /// and for a CA above it (a self-signed trust anchor's own entry does not count). An OCSP
    /// answer, which speaks for the card only, may stand in for the first, never the second.
    public var crlGapAtLeaf = false
    public var crlGapAboveLeaf = false

    public init(reason: CertificateReason, opensslCode: Int32) {
        self.reason = reason
        self.opensslCode = opensslCode
        self.opensslError = String(cString: X509_verify_cert_error_string(Int(opensslCode)))
    }

    public static let noCertificate = CertificateVerdict(reason: .noCertificate, opensslCode: X509_V_OK)
    /// Bytes that were meant to be a certificate but are none (a forwarded header that does not decode).
    public static let malformed = CertificateVerdict(reason: .malformedCertificate, opensslCode: X509_V_ERR_UNSPECIFIED)

    /// The subject of the CA of the trust store the chain was built to (the nearest one above
    /// the leaf), whether or not the chain verified; nil when the chain reached none (an
    /// unknown issuer, a self-signed leaf, no certificate). Unlike the leaf's issuer name, which
    /// whoever made the certificate chose, it can only name a CA the operator configured.
    public var authority: String? = nil
}


/// The OpenSSL verification codes a verdict decided outside `X509_verify_cert` (by OCSP) carries.
public enum X509VerifyCode {
    public static let ok: Int32 = X509_V_OK
    public static let certificateRevoked: Int32 = X509_V_ERR_CERT_REVOKED
    public static let ocspVerifyFailed: Int32 = X509_V_ERR_OCSP_VERIFY_FAILED
}

extension CertificateVerdict {
    /// The subject of the first certificate of the chain built in `storeCtx` that came from the
    /// trust store. OpenSSL lays the chain out as the leaf, then the certificates the client
    /// sent that it used, then those found in the store (`num_untrusted` counts the first two
    /// groups; with X509_V_FLAG_TRUSTED_FIRST, the default, a CA the client sent that the store
    /// also holds is taken from the store), so the certificate at `num_untrusted` is the CA of
    /// the bundle the chain reached. Read after `X509_verify_cert`, failed or not.
    static func authority(builtIn storeCtx: OpaquePointer) -> String? {
        guard let chain = X509_STORE_CTX_get0_chain(storeCtx) else { return nil }
        let untrusted = X509_STORE_CTX_get_num_untrusted(storeCtx)
        guard untrusted >= 1, untrusted < CNSSSL_sk_X509_num(chain),
              let cert = CNSSSL_sk_X509_value(chain, untrusted) else { return nil }
        return X509Inspector.name(X509_get_subject_name(cert))
    }
}
