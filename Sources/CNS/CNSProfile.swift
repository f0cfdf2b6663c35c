/// Outcome codes of the certificate profile check. The raw value is the reason code that the
/// user's error page, the log line, the audit record and the metric label share (STYLE rule 6).
public enum CNSReason: String, Sendable, CaseIterable {
    case ok
    /// The citizen picked the card's qualified signature certificate (nonRepudiation without
    /// digitalSignature, or an extended key usage without clientAuth): pick the other one.
    case signatureCertificate = "signature_certificate"
    /// No accepted CNS (or CIE) policy, the subject is not shaped like such a certificate's, or
    /// the card is of a kind `[profile]` switched off (a CIE with `cie = false`).
    case notCNSCertificate = "not_cns_certificate"
    /// Shaped like a CNS or CIE certificate, but the Codice Fiscale in it does not validate.
    case invalidFiscalCode = "invalid_fiscal_code"
    /// The bytes are not a DER X.509 certificate (or an extension we read is broken).
    case malformedCertificate = "malformed_certificate"
}

/// Why `CNSEvaluator` refused a certificate. Equality compares only `reason`: tests match
/// reasons, logs keep `detail` and the throw site.
public struct CNSRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: CNSReason
    public var detail: String
    /// The card the certificate was recognised as, when it was (a CIE with a bad Codice
    /// Fiscale, a CIE while `cie` is off), so the citizen's page speaks of the right card.
    public var kind: CardKind?
    public var fileID: String
    public var line: Int

    public init(reason: CNSReason, detail: String, kind: CardKind? = nil, fileID: String = #fileID, line: Int = #line) {
        self.reason = reason
        self.detail = detail
        self.kind = kind
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

/// What a certificate must look like to count as a CNS (CNS.md section 1) or CIE
/// authentication certificate, and which of the two kinds are accepted.
public struct CNSProfile: Sendable, Equatable {
    /// AgID CNS authentication.
    public static let agidCNSAuthenticationPolicy = "1.3.76.16.2.1"
    /// Lombardy CRS/SISS cards, declared equivalent.
    public static let lombardyCRSPolicies = ["1.3.159.6.1.3.2.10", "1.3.76.12.1.1.10.2.2.10"]
    /// The CIE's authentication certificate (Ministero dell'Interno's arc 1.3.76.47; the roots
    /// carry .1, the issuing sub-CAs .2).
    public static let cieAuthenticationPolicy = "1.3.76.47.4"

    /// The kinds of card accepted. A certificate of a kind left out is `not_cns_certificate`.
    public var kinds: Set<CardKind>
    /// The certificate must carry at least one of these policy OIDs (dotted form) to be a CNS.
    /// Empty: no policy is required.
    public var policyOIDs: [String]
    /// A certificate carrying one of these is a CIE's, whatever else it carries; never empty
    /// in a loaded configuration (the policy is what tells a CIE apart).
    public var ciePolicyOIDs: [String]
    /// keyUsage must be present and assert digitalSignature. Failing that, nonRepudiation
    /// without digitalSignature is `signature_certificate`, anything else `not_cns_certificate`.
    public var requireDigitalSignature: Bool
    /// When an extendedKeyUsage extension is present it must list clientAuth, else
    /// `signature_certificate`. anyExtendedKeyUsage alone does not count, as in OpenSSL's
    /// SSL-client purpose check. CNS only: whether a CIE leaf carries an extendedKeyUsage is
    /// not known, so its profile does not look at it (the chain check still applies OpenSSL's
    /// SSL-client purpose to every card).
    public var requireClientAuthWhenEKUPresent: Bool
    /// The subject CN must be `<CF>/<16-digit card id>.<28-character Base64 hash>` (CNS) or
    /// `<CF>/<12 digits>` (CIE). When false, a CN whose text before the first `/` (or whole
    /// text) is a 16-character code is enough; the card id, hash or CIE number are then filled
    /// in only when they have their shape.
    public var requireCNFormat: Bool
    /// Also accept certificates whose subject serialNumber is `TINIT-<CF>` or `IT:<CF>`, as
    /// trust service providers issue ("CNS-like"). Such certificates carry their provider's
    /// policies, not the CNS ones, so `policyOIDs` is not required of them: which issuers may
    /// vouch for them is the trust store's decision.
    public var allowCNSLike: Bool

    public init(
        kinds: Set<CardKind> = [.cns, .cie],
        policyOIDs: [String] = [Self.agidCNSAuthenticationPolicy] + Self.lombardyCRSPolicies,
        ciePolicyOIDs: [String] = [Self.cieAuthenticationPolicy],
        requireDigitalSignature: Bool = true,
        requireClientAuthWhenEKUPresent: Bool = true,
        requireCNFormat: Bool = true,
        allowCNSLike: Bool = false
    ) {
        self.kinds = kinds
        self.policyOIDs = policyOIDs
        self.ciePolicyOIDs = ciePolicyOIDs
        self.requireDigitalSignature = requireDigitalSignature
        self.requireClientAuthWhenEKUPresent = requireClientAuthWhenEKUPresent
        self.requireCNFormat = requireCNFormat
        self.allowCNSLike = allowCNSLike
    }

    public static let standard = CNSProfile()
}
