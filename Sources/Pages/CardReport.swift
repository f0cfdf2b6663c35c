public import CNS
public import FoundationEssentials

/// What `/verifica` shows about the certificate a browser presented. Every string here may come
/// from the certificate, which the client controls: the renderer escapes all of it.
public struct CardReport: Sendable {
    /// A client certificate was presented in the handshake.
    public var presented: Bool
    /// One of `PageRenderer.reasons`; `ok` means the gateway would let this card log in.
    public var reason: String
    /// The holder as the CNS profile read it, when it could (also for a card rejected for
    /// another reason, e.g. expired, so a help desk sees whose card it is).
    public var identity: CNSIdentity?
    /// Certificate facts from the TLS layer; each falls back to `identity`'s when nil.
    public var subject: String?
    public var issuer: String?
    public var serialHex: String?
    public var notAfter: Date?
    /// SHA-256 of the DER certificate, hex.
    public var sha256: String?
    /// OpenSSL's verify message, shown to help desks as is.
    public var opensslError: String?
    /// The card the certificate was recognised as, also when refused (the profile's verdict);
    /// falls back to `identity`'s.
    public var kind: CardKind?

    public init(
        presented: Bool, reason: String, identity: CNSIdentity? = nil, kind: CardKind? = nil, subject: String? = nil,
        issuer: String? = nil, serialHex: String? = nil, notAfter: Date? = nil, sha256: String? = nil,
        opensslError: String? = nil
    ) {
        self.presented = presented
        self.reason = reason
        self.identity = identity
        self.kind = kind ?? identity?.kind
        self.subject = subject
        self.issuer = issuer
        self.serialHex = serialHex
        self.notAfter = notAfter
        self.sha256 = sha256
        self.opensslError = opensslError
    }
}
