import Posix

/// What a handler may know about the connection a request came on: values, no socket, so the
/// router can be tested without one.
struct RequestContext: Sendable {
    /// The listener's name ("admin" for the admin listener).
    var listener: String
    /// The plain-HTTP admin listener (/metrics and probes only).
    var isAdmin: Bool
    /// True on a listener whose handshake asks for the card.
    var requestsClientCertificate: Bool
    /// The client: the PROXY header's source address behind a proxy, else the peer.
    var client: SocketAddress
    var tls: TLSFacts?
    /// The card of the connection, its verdict computed only when a route needs it.
    var card: ConnectionCard
    /// The configuration, trust and provider the connection was accepted under.
    var generation: Generation
    /// Draining, the last reload, the current generation: for probes and /metrics.
    var server: SharedState

    struct TLSFacts: Sendable {
        var version: String
        var cipher: String
        var alpn: String?
        /// How the client signed the handshake (`rsa_pkcs1_sha256`, `rsa_pss_sha256`, ...);
        /// nil without a client certificate.
        var clientSignature: String? = nil
    }
}
