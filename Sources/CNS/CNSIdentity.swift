public import FoundationEssentials

/// The holder and the certificate facts read from an accepted CNS or CIE authentication
/// certificate.
public struct CNSIdentity: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// From the CN `<CF>/<card id>.<hash>` of a CNS certificate, or `<CF>/<12 digits>` of a CIE's.
        case commonName = "cn"
        /// From a `TINIT-<CF>` / `IT:<CF>` serialNumber (profile `allowCNSLike`).
        case serialNumber = "serial_number"
    }

    /// Which card: a CNS (TS-CNS and the like) or a CIE.
    public var kind: CardKind
    /// Always the personal (16-character) form.
    public var codiceFiscale: CodiceFiscale
    /// The 16-digit card id (EF_IDCarta) from a CNS's CN; nil for a CIE and CNS-like certificates.
    public var cardID: String?
    /// A CIE's document number (printed on the card, top right), from the subject serialNumber
    /// `IDCIT-<document number>`; nil for a CNS or when the CIE carries none.
    public var documentNumber: String?
    /// The 12 digits after the CF in a CIE's CN. What they number is not published; kept for
    /// help desks, never used to identify anyone.
    public var cnNumber: String?
    /// The 28-character Base64 hash from the CN; nil for CNS-like certificates.
    public var cnHash: String?
    /// GN, display data only (absent on many non-regional cards).
    public var givenName: String?
    /// SN, display data only.
    public var surname: String?
    /// OU: the administration that issued the card, e.g. `REGIONE AUTONOMA DELLA SARDEGNA`.
    public var administration: String?
    /// O: the trust service provider operating the CA, e.g. `ArubaPEC S.p.A.`.
    public var organization: String?
    /// Subject and issuer in encoded order, least specific first, the way CNS.md shows them
    /// (OpenSSL's `oneline` order, without its spaces around `=`):
    /// `C=IT, O=ArubaPEC S.p.A., OU=..., CN=..., GN=MARIO, SN=ROSSI`. Not RFC 4514's reversed order.
    /// Separator `, `; a multi-valued RDN is joined with ` + `; values are escaped as RFC 4514
    /// section 2.4 says (`,` `+` `"` `\` `<` `>` `;`, a leading `#` or space, a trailing space).
    /// Attribute names: C ST L O OU CN GN SN serialNumber dnQualifier title emailAddress DC UID
    /// street; any other type is shown as its dotted OID.
    public var subject: String
    public var issuer: String
    /// Uppercase hex of the serial number's magnitude, no colons, no sign-padding zero byte.
    public var serialHex: String
    public var notBefore: Date
    public var notAfter: Date
    /// `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`, or the dotted OID of anything else.
    public var keyAlgorithm: String
    /// RSA: modulus length. EC: curve size (256 for P-256). 0 when unknown.
    public var keyBits: Int
    /// OpenSSL's long name, e.g. `sha256WithRSAEncryption`, `sha1WithRSAEncryption`,
    /// `ecdsa-with-SHA256`, `rsassaPss`, `ED25519`, or the dotted OID.
    public var signatureAlgorithm: String
    /// Every policy OID in the certificatePolicies extension, dotted, in encoded order.
    public var policyOIDs: [String]
    /// Lowercase hex SHA-256 of the whole DER certificate (as in RFC 8705 `x5t#S256`, before Base64url).
    public var sha256Thumbprint: String
    public var source: Source

    public init(
        kind: CardKind = .cns, codiceFiscale: CodiceFiscale, cardID: String?, cnHash: String?,
        documentNumber: String? = nil, cnNumber: String? = nil, givenName: String?, surname: String?,
        administration: String?, organization: String?, subject: String, issuer: String, serialHex: String,
        notBefore: Date, notAfter: Date, keyAlgorithm: String, keyBits: Int, signatureAlgorithm: String,
        policyOIDs: [String], sha256Thumbprint: String, source: Source
    ) {
        self.kind = kind
        self.codiceFiscale = codiceFiscale
        self.cardID = cardID
        self.documentNumber = documentNumber
        self.cnNumber = cnNumber
        self.cnHash = cnHash
        self.givenName = givenName
        self.surname = surname
        self.administration = administration
        self.organization = organization
        self.subject = subject
        self.issuer = issuer
        self.serialHex = serialHex
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.keyAlgorithm = keyAlgorithm
        self.keyBits = keyBits
        self.signatureAlgorithm = signatureAlgorithm
        self.policyOIDs = policyOIDs
        self.sha256Thumbprint = sha256Thumbprint
        self.source = source
    }
}
