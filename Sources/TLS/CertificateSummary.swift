import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// What the trust-list import shows and decides about a CA certificate, read by OpenSSL's
/// lenient parser: the real list holds names longer than X.520's upper bounds and SHA-1
/// self-signatures, which a strict parser refuses but OpenSSL (and the trust store) accept.
public struct CertificateSummary: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    /// SHA-256 of the DER certificate, lowercase hex without colons.
    public var sha256: String
    public var notBefore: Date?
    public var notAfter: Date?
    /// Usable as an issuer, as OpenSSL and the trust store judge it (X509_check_ca):
    /// basicConstraints cA and, when keyUsage is present, keyCertSign.
    public var isCA: Bool
    /// basicConstraints says cA, whatever keyUsage says.
    public var basicConstraintsCA: Bool
    public var selfIssued: Bool
    /// "RSA 2048", "EC 256", ...
    public var key: String
    /// "sha256WithRSAEncryption", "sha1WithRSAEncryption", ...
    public var signatureAlgorithm: String
    public var der: [UInt8]

    /// Nil when the bytes are not one DER certificate.
    public init?(der: [UInt8]) {
        guard let cert = X509Certificate(der: der) else { return nil }
        let pointer = cert.pointer
        subject = X509Inspector.name(X509_get_subject_name(pointer))
        issuer = X509Inspector.name(X509_get_issuer_name(pointer))
        sha256 = cert.sha256.hexString
        notBefore = X509Inspector.date(X509_get0_notBefore(pointer))
        notAfter = X509Inspector.date(X509_get0_notAfter(pointer))
        isCA = X509_check_ca(pointer) != 0
        basicConstraintsCA = X509_get_extension_flags(pointer) & UInt32(EXFLAG_CA) != 0
        selfIssued = X509Inspector.isSelfSigned(pointer)
        if let key = X509_get0_pubkey(pointer) {
            let type = EVP_PKEY_get_base_id(key)
            let name = type == EVP_PKEY_RSA ? "RSA" : type == EVP_PKEY_EC ? "EC" : String(cString: OBJ_nid2sn(type))
            self.key = "\(name) \(EVP_PKEY_get_bits(key))"
        } else {
            key = "unknown"
        }
        let nid = X509_get_signature_nid(pointer)
        signatureAlgorithm = nid == NID_undef ? "unknown" : String(cString: OBJ_nid2ln(nid))
        self.der = der
        OpenSSLErrorQueue.clear()
    }

    /// Within notBefore...notAfter at `date`.
    public func isValid(at date: Date) -> Bool {
        guard let notBefore, let notAfter else { return false }
        return notBefore <= date && date <= notAfter
    }

    /// The certificate as one PEM block.
    public var pem: String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN CERTIFICATE-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let next = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<next]))
            index = next
        }
        lines.append("-----END CERTIFICATE-----")
        return lines.joined(separator: "\n") + "\n"
    }
}
