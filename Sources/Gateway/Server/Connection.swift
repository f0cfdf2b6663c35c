import EventLoop
import FoundationEssentials
import HTTP1
import Posix
import TLS

/// One accepted connection, owned by the loop thread that accepted it.
final class Connection {
    enum State {
        case proxyHeader
        case handshake
        case reading
        /// A handler runs off the loop (database, slow hash); nothing is read meanwhile.
        case waiting
        case writing
        case closed
    }

    let fd: Int32
    /// Set once the loop has taken the connection.
    var slot = Slot.unassigned
    let listener: BoundListener
    /// nil on the admin listener (plain HTTP, no TLS, no PROXY header).
    let settings: ListenerConfig?
    let generation: Generation
    let peer: SocketAddress
    let acceptedAt: UInt64
    var client: SocketAddress
    var clientAdmitted = false
    var state: State
    var tls: TLSConnection?
    /// The TLS facts of the finished handshake, read from OpenSSL on the first request and
    /// kept (four OpenSSL calls and four strings per request on a kept-alive connection were
    /// a tenth of a request's CPU).
    private var finishedTLSFacts: RequestContext.TLSFacts?
    var input: [UInt8] = []
    var output: [UInt8] = []
    var outputOffset = 0
    var keepAlive = true
    var requests = 0
    /// The card of the handshake (set when it completes; none on the admin listener and on a
    /// forwarded listener, whose cards come with each request).
    var card: ConnectionCard
    /// The client of the request being answered, when it differs from the connection's (a
    /// forwarded listener: each request names its citizen); for the access log.
    var requestClient: SocketAddress?
    /// Why the deadline is set, for the 408 decision and logs.
    var waitingForRequestBytes = false
    /// The request a deferred handler is answering, for the access log and metrics.
    var pending: PendingRequest?

    struct PendingRequest {
        var method: String
        var path: String
        var started: UInt64
        var reason: String?
        var ticket: BlockingPool.Ticket
    }

    init(fd: Int32, listener: BoundListener, settings: ListenerConfig?, generation: Generation, peer: SocketAddress, now: UInt64) {
        self.fd = fd
        self.listener = listener
        self.settings = settings
        self.isAdmin = settings == nil
        self.isPlainHTTP = settings?.isPlainHTTP ?? true
        self.generation = generation
        self.peer = peer
        self.client = peer
        self.acceptedAt = now
        self.card = .none()
        if let settings, !settings.isPlainHTTP {
            self.state = settings.proxyProtocol ? .proxyHeader : .handshake
        } else {
            self.state = .reading
            self.waitingForRequestBytes = true
        }
    }

    var limits: Limits { generation.config.limits }

    /// A listener whose handshake asks for the card.
    var asksForCard: Bool { (settings?.clientCertificate ?? .none) != .none }
    /// The admin listener (no TLS settings); fixed at accept, read on every request.
    let isAdmin: Bool
    /// No TLS: the admin listener, or a forwarded listener behind a proxy on this host.
    let isPlainHTTP: Bool

    /// The client a log line names: the request's on a forwarded listener, else the connection's.
    var loggedClient: SocketAddress { requestClient ?? client }

    var httpLimits: HTTPLimits {
        HTTPLimits(maxHeaderBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
    }

    private func tlsFacts() -> RequestContext.TLSFacts? {
        if let finishedTLSFacts { return finishedTLSFacts }
        guard let tls else { return nil }
        let facts = RequestContext.TLSFacts(version: tls.version, cipher: tls.cipher, alpn: tls.alpn,
                                            clientSignature: tls.peerSignatureScheme)
        if tls.isHandshakeFinished { finishedTLSFacts = facts }
        return facts
    }

    /// The facts a handler may read about this connection; on a forwarded listener the card
    /// and the client are the request's.
    func requestContext(server: SharedState, card: ConnectionCard? = nil, client: SocketAddress? = nil) -> RequestContext {
        RequestContext(
            listener: listener.name, isAdmin: isAdmin,
            requestsClientCertificate: settings?.readsCard ?? false,
            client: client ?? self.client,
            tls: tlsFacts(),
            card: card ?? self.card, generation: generation, server: server,
            pathPrefix: settings?.publicPathPrefix ?? "")
    }
}
