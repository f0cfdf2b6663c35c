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
    let slot: Int
    let token: UInt64
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
    var input: [UInt8] = []
    var output: [UInt8] = []
    var outputOffset = 0
    var deadline: UInt64 = 0
    var keepAlive = true
    var interest: EventInterest = .readable
    var requests = 0
    /// The verdict on this connection's certificate, computed on first use.
    var loginVerdict: LoginVerdict?
    /// Why the deadline is set, for the 408 decision and logs.
    var waitingForRequestBytes = false

    enum EventInterest { case readable, writable, none }
    /// When the TLS handshake finished: with no resumption on certificate listeners this
    /// is when the card last signed for this connection.
    var handshakeCompletedAt: Date?
    /// The request a deferred handler is answering, for the access log and metrics.
    var pendingRequest: (method: String, path: String, started: UInt64)?

    init(fd: Int32, slot: Int, token: UInt64, listener: BoundListener, settings: ListenerConfig?,
         generation: Generation, peer: SocketAddress, now: UInt64) {
        self.fd = fd
        self.slot = slot
        self.token = token
        self.listener = listener
        self.settings = settings
        self.isAdmin = settings == nil
        self.generation = generation
        self.peer = peer
        self.client = peer
        self.acceptedAt = now
        if let settings {
            self.state = settings.proxyProtocol ? .proxyHeader : .handshake
        } else {
            self.state = .reading
            self.waitingForRequestBytes = true
        }
    }

    var limits: Limits { generation.config.limits }
    /// The admin listener (no TLS settings); fixed at accept, read on every request.
    let isAdmin: Bool

    var httpLimits: HTTPLimits {
        HTTPLimits(maxHeaderBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
    }
}
