import Posix

/// What a handler may know about the connection a request came on: values, no socket, so the
/// router can be tested without one.
struct RequestContext: Sendable {
    /// The listener's name ("admin" for the admin listener).
    var listener: String
    /// The plain-HTTP admin listener (/metrics and probes only).
    var isAdmin: Bool
    /// True on a listener that reads the card: its handshake asks for it, or a trusted proxy
    /// forwards it.
    var requestsClientCertificate: Bool
    /// The client: the PROXY header's source address behind a TCP proxy, the trusted HTTP
    /// proxy's `X-Forwarded-For` / `Forwarded` hop behind an HTTP one, else the peer.
    var client: SocketAddress
    var tls: TLSFacts?
    /// The card of the connection (of the request, on a forwarded listener), its verdict
    /// computed only when a route needs it.
    var card: ConnectionCard
    /// The configuration, trust and provider the connection was accepted under.
    var generation: Generation
    /// Draining, the last reload, the current generation: for probes and /metrics.
    var server: SharedState
    /// The path the listener's pages live under (`public_base_url`'s path; "" at the root).
    var pathPrefix: String = ""

    struct TLSFacts: Sendable {
        var version: String
        var cipher: String
        var alpn: String?
        /// How the client signed the handshake (`rsa_pkcs1_sha256`, `rsa_pss_sha256`, ...);
        /// nil without a client certificate.
        var clientSignature: String? = nil
    }
}
