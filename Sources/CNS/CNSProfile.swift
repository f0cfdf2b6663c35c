/// Outcome codes of the certificate profile check. The raw value is the reason code that the
/// user's error page, the log line, the audit record and the metric label share (STYLE rule 6).
public enum CNSReason: String, Sendable, CaseIterable {
    case ok
    /// The citizen picked the card's qualified signature certificate (nonRepudiation without
    /// digitalSignature, or an extended key usage without clientAuth): pick the other one.
    case signatureCertificate = "signature_certificate"
    /// No accepted CNS policy, or the subject is not shaped like a CNS certificate's.
    case notCNSCertificate = "not_cns_certificate"
    /// Shaped like a CNS certificate, but the Codice Fiscale in it does not validate.
    case invalidFiscalCode = "invalid_fiscal_code"
    /// The bytes are not a DER X.509 certificate (or an extension we read is broken).
    case malformedCertificate = "malformed_certificate"
}

/// Why `CNSEvaluator` refused a certificate. Equality compares only `reason`: tests match
/// reasons, logs keep `detail` and the throw site.
public struct CNSRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: CNSReason
    public var detail: String
    public var fileID: String
    public var line: Int

    public init(reason: CNSReason, detail: String, fileID: String = #fileID, line: Int = #line) {
        self.reason = reason
        self.detail = detail
        self.fileID = fileID
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.reason == rhs.reason
    }

    public var description: String {
        "\(reason.rawValue): \(detail) (\(fileID):\(line))"
    }
}

/// What a certificate must look like to count as a CNS authentication certificate (CNS.md section 1).
public struct CNSProfile: Sendable, Equatable {
    /// AgID CNS authentication.
    public static let agidCNSAuthenticationPolicy = "1.3.76.16.2.1"
    /// Lombardy CRS/SISS cards, declared equivalent.
    public static let lombardyCRSPolicies = ["1.3.159.6.1.3.2.10", "1.3.76.12.1.1.10.2.2.10"]

    /// The certificate must carry at least one of these policy OIDs (dotted form).
    /// Empty: no policy is required.
    public var policyOIDs: [String]
    /// keyUsage must be present and assert digitalSignature. Failing that, nonRepudiation
    /// without digitalSignature is `signature_certificate`, anything else `not_cns_certificate`.
    public var requireDigitalSignature: Bool
    /// When an extendedKeyUsage extension is present it must list clientAuth, else
    /// `signature_certificate`. anyExtendedKeyUsage alone does not count, as in OpenSSL's
    /// SSL-client purpose check.
    public var requireClientAuthWhenEKUPresent: Bool
    /// The subject CN must be `<CF>/<16-digit card id>.<28-character Base64 hash>`.
    /// When false, a CN whose text before the first `/` (or whole text) is a 16-character code
    /// is enough; the card id and hash are then filled in only when they have the CNS shape.
    public var requireCNFormat: Bool
    /// Also accept certificates whose subject serialNumber is `TINIT-<CF>` or `IT:<CF>`, as
    /// trust service providers issue ("CNS-like"). Such certificates carry their provider's
    /// policies, not the CNS ones, so `policyOIDs` is not required of them: which issuers may
    /// vouch for them is the trust store's decision.
    public var allowCNSLike: Bool

    public init(
        policyOIDs: [String] = [Self.agidCNSAuthenticationPolicy] + Self.lombardyCRSPolicies,
        requireDigitalSignature: Bool = true,
        requireClientAuthWhenEKUPresent: Bool = true,
        requireCNFormat: Bool = true,
        allowCNSLike: Bool = false
    ) {
        self.policyOIDs = policyOIDs
        self.requireDigitalSignature = requireDigitalSignature
        self.requireClientAuthWhenEKUPresent = requireClientAuthWhenEKUPresent
        self.requireCNFormat = requireCNFormat
        self.allowCNSLike = allowCNSLike
    }

    public static let standard = CNSProfile()
}
