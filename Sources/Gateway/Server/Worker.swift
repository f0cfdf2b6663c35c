import CNS
import EventLoop
import FoundationEssentials
import HTTP1
import Logging
import Posix
import ProxyProtocol
import TLS

/// One event-loop thread's share of the gateway: accepts on the shared listening sockets and
/// drives each connection's state machine (PROXY header, TLS handshake, HTTP/1.1 requests,
/// responses) over the loop's readiness events and deadlines. The loop itself (epoll, slots,
/// deadlines, mailbox) is `EventLoop`'s; the steps of one connection are in ConnectionDriver.swift.
/// Nothing here blocks: sockets are non-blocking and OpenSSL reports WANT_READ/WRITE.
final class Worker {
    /// A deferred handler's response on its way back to the loop that owns the connection.
    struct Delivery: Sendable {
        var slot: Slot
        var answer: Router.DeferredResponse
    }
    typealias Loop = EventLoop<Connection, Delivery>

    let id: Int
    let loop: Loop
    let shared: SharedState
    let listeners: [BoundListener]
    let router: Router
    let pools: BlockingPools
    let logger: Logger
    let metrics = MetricsRecorder()
    /// How long a deferred handler may take before the client gets a 503.
    static let backendTimeout: UInt64 = 30_000_000_000
    let readBuffer: UnsafeMutableRawBufferPointer
    /// The last small response serialized on this loop (see `serialized`).
    var lastSerialized: (response: HTTPResponse, keepAlive: Bool, head: Bool, bytes: [UInt8])?
    private var drainingHandled = false
    private var closedSinceTrim = 0
    /// Per listener (by index): this loop's allowance of new connections, and, while it is
    /// spent, when the loop watches the listener again.
    private var acceptBudgets: [AcceptBudget?]
    private var pausedUntil: [UInt64?]

    init(id: Int, shared: SharedState, listeners: [BoundListener], router: Router, pools: BlockingPools,
         heartbeat: LoopHeartbeats.Beat) throws(Errno) {
        self.id = id
        self.loop = try Loop(heartbeat: heartbeat)
        self.shared = shared
        self.listeners = listeners
        self.router = router
        self.pools = pools
        var logger = Logger(label: "cns-gateway.worker")
        logger[metadataKey: "worker"] = "\(id)"
        self.logger = logger
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 16)
        let slots = (listeners.map(\.index).max() ?? -1) + 1
        self.acceptBudgets = Array(repeating: nil, count: slots)
        self.pausedUntil = Array(repeating: nil, count: slots)
        for listener in listeners {
            try loop.addListener(fd: listener.fd, index: listener.index)
        }
    }

    deinit { readBuffer.deallocate() }

    /// Runs until draining has finished (no connections left).
    func run() {
        while true {
            if shared.isDraining {
                if !drainingHandled { beginDrain() }
                if loop.count == 0 { break }
            }
            let wait = resumeListeners(maxWaitMilliseconds: shared.isDraining ? 100 : 1000)
            do {
                try loop.turn(maxWaitMilliseconds: wait, handle) { deliveries in
                    for delivery in deliveries { deliver(delivery) }
                }
            } catch {
                logger.error("event_loop_error", metadata: ["error": "\(error)"])
            }
            if loop.count == 0 && closedSinceTrim > 256 {
                // After a burst (e.g. a flood of idle connections) give the memory back.
                closedSinceTrim = 0
                Posix.Process.trimHeap()
            }
        }
        for listener in listeners { loop.removeListener(fd: listener.fd) }
    }

    private func handle(_ event: LoopEvent<Connection>) {
        switch event {
        case .listener(let index):
            if index < listeners.count { acceptAll(listeners[index]) }
        case .ready(_, let connection, let ready):
            if ready.hangup && !ready.readable && !ready.writable {
                close(connection, reason: "hangup")
                return
            }
            drive(connection)
        case .deadline(_, let connection):
            expire(connection)
        }
    }

    // MARK: accepting

    private func acceptAll(_ listener: BoundListener) {
        if shared.isDraining { return }
        let bound = shared.generation.config.limits
        let budgeted = !listener.admin && bound.acceptRate > 0
        for _ in 0..<64 {
            if budgeted && !takeAcceptToken(listener, bound) { return }
            let accepted: (fd: Int32, peer: SocketAddress)?
            do {
                accepted = try Socket.accept(listener.fd)
            } catch {
                // EMFILE/ENFILE: the kernel keeps the connection queued; back off this round.
                if budgeted { acceptBudgets[listener.index]?.giveBack(burst: bound.acceptBurst) }
                logger.warning("accept_failed", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                return
            }
            guard let (fd, peer) = accepted else {
                if budgeted { acceptBudgets[listener.index]?.giveBack(burst: bound.acceptBurst) }
                return
            }
            let generation = shared.generation
            let settings = generation.listener(named: listener.name)
            if settings == nil && !listener.admin {
                Socket.close(fd)
                continue
            }
            let limits = generation.config.limits
            guard shared.admitConnection(limit: limits.maxConnections) else {
                logger.warning("connection_refused", metadata: ["listener": "\(listener.name)", "client": "\(peer)", "reason": "max_connections"])
                Socket.close(fd)
                continue
            }
            let now = Posix.Process.monotonicNanoseconds()
            let connection = Connection(fd: fd, listener: listener, settings: settings, generation: generation, peer: peer, now: now)
            do {
                connection.slot = try loop.insert(connection, fd: fd, interest: .readable)
            } catch {
                logger.warning("accept_failed", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                Socket.close(fd)
                shared.releaseConnection()
                continue
            }
            loop.setDeadline(connection.slot, now + nanoseconds(connection.isPlainHTTP ? limits.headerTimeout : limits.handshakeTimeout))
            if let settings, settings.proxyProtocol {
                guard settings.trustedProxies.contains(where: { $0.contains(peer) }) else {
                    logger.warning("proxy_refused", metadata: ["listener": "\(listener.name)", "peer": "\(peer)", "reason": "untrusted_proxy"])
                    close(connection, reason: "untrusted_proxy", quiet: true)
                    continue
                }
            } else if let settings, settings.forwarded != nil, settings.isTrustedProxy(peer) {
                // A trusted HTTP proxy carries many citizens over a pool of connections: its
                // connections are not one client's (the proxy limits its own clients).
            } else if !admitClient(connection) {
                continue
            }
            drive(connection)
        }
    }

    /// One token of this loop's allowance for `listener`; when it is spent, the loop stops
    /// watching the listener until the next token is due (`resumeListeners`). Level-triggered
    /// epoll would otherwise report the waiting connections on every turn.
    private func takeAcceptToken(_ listener: BoundListener, _ limits: Limits) -> Bool {
        let now = Posix.Process.monotonicNanoseconds()
        var budget = acceptBudgets[listener.index] ?? AcceptBudget(burst: limits.acceptBurst, now: now)
        let taken = budget.take(now: now, rate: limits.acceptRate, burst: limits.acceptBurst)
        acceptBudgets[listener.index] = budget
        if !taken {
            loop.removeListener(fd: listener.fd)
            pausedUntil[listener.index] = budget.nextToken(now: now, rate: limits.acceptRate)
            metrics.acceptPaused(listener: listener.name)
        }
        return taken
    }

    /// Watches again the listeners whose next token is due; returns how long the next turn may
    /// wait (until the earliest of the others).
    private func resumeListeners(maxWaitMilliseconds: Int32) -> Int32 {
        var wait = maxWaitMilliseconds
        let now = Posix.Process.monotonicNanoseconds()
        for listener in listeners {
            guard let until = pausedUntil[listener.index] else { continue }
            if shared.isDraining {
                pausedUntil[listener.index] = nil
            } else if until <= now {
                do {
                    try loop.addListener(fd: listener.fd, index: listener.index)
                    pausedUntil[listener.index] = nil
                } catch {
                    logger.error("listener_resume_failed", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                    pausedUntil[listener.index] = now + 100_000_000
                    wait = min(wait, 100)
                }
            } else {
                wait = min(wait, Int32(clamping: (until - now + 999_999) / 1_000_000))
            }
        }
        return wait
    }

    func admitClient(_ connection: Connection) -> Bool {
        let limit = connection.limits.maxConnectionsPerClient
        guard shared.admitClient(connection.client, limit: limit) else {
            logger.warning("connection_refused", metadata: [
                "listener": "\(connection.listener.name)", "client": "\(connection.client)", "reason": "max_connections_per_client",
            ])
            close(connection, reason: "per_client_limit", quiet: true)
            return false
        }
        connection.clientAdmitted = true
        return true
    }

    // MARK: deferred work

    /// Runs `work` on the lane's blocking pool; its response comes back through the mailbox.
    func runOffLoop(_ work: @escaping @Sendable () -> Router.DeferredResponse, lane: Router.Lane, for connection: Connection, method: String,
                    path: String, started: UInt64, reason: String?) {
        let slot = connection.slot
        let mailbox = loop.mailbox
        let pool = pools.pool(for: lane)
        guard let ticket = pool.submit({ mailbox.post(Delivery(slot: slot, answer: work())) }) else {
            metrics.backendBusy(pool: lane.rawValue)
            logger.error("backend_busy", metadata: [
                "client": "\(connection.loggedClient)", "path": "\(path)", "pool": "\(lane.rawValue)",
                "queued": .stringConvertible(pool.queued),
            ])
            finish(connection, method: method, path: path, started: started,
                   response: router.unavailable(retryAfter: 1), reason: reason)
            return
        }
        connection.state = .waiting
        connection.pending = Connection.PendingRequest(method: method, path: path, started: started, reason: reason, ticket: ticket)
        loop.setDeadline(slot, Posix.Process.monotonicNanoseconds() + Worker.backendTimeout)
        want(connection, .none)
    }

    /// A deferred handler's response comes back to the loop that owns the connection.
    private func deliver(_ delivery: Delivery) {
        guard let connection = loop[delivery.slot], connection.state == .waiting, let pending = connection.pending else { return }
        connection.pending = nil
        // A card judged on the pool (its OCSP query) is logged and counted here, on its loop.
        if let verdict = delivery.answer.cardVerdict { recordCardVerdict(verdict, on: connection) }
        finish(connection, method: pending.method, path: pending.path, started: pending.started,
               response: delivery.answer.response, reason: pending.reason ?? delivery.answer.cardVerdict?.reason)
        drive(connection)
    }

    // MARK: deadlines, draining, closing

    private func expire(_ connection: Connection) {
        switch connection.state {
        case .proxyHeader, .handshake:
            metrics.handshake(listener: connection.listener.name, outcome: "timeout")
            logger.info("timeout", metadata: ["listener": "\(connection.listener.name)", "client": "\(connection.client)", "phase": "handshake"])
            close(connection, reason: "handshake_timeout", quiet: true)
        case .reading where connection.waitingForRequestBytes && !connection.input.isEmpty:
            // A partial request that never completed: say 408, then close.
            logger.info("timeout", metadata: ["listener": "\(connection.listener.name)", "client": "\(connection.client)", "phase": "header"])
            connection.input.removeAll()
            answerAndClose(connection, status: 408, message: "request timeout")
        case .reading:
            close(connection, reason: connection.waitingForRequestBytes ? "header_timeout" : "idle_timeout", quiet: true)
        case .writing:
            close(connection, reason: "write_timeout", quiet: true)
        case .waiting:
            logger.error("backend_timeout", metadata: ["client": "\(connection.client)", "path": "\(connection.pending?.path ?? "-")"])
            // The work is dropped if it has not started; its answer is ignored if it has.
            connection.pending?.ticket.cancel()
            connection.pending = nil
            answerAndClose(connection, status: 503, message: "temporarily unavailable")
        case .closed:
            break
        }
    }

    /// A last answer on a connection whose deadline passed, then close; one more second
    /// to write it.
    private func answerAndClose(_ connection: Connection, status: Int, message: String) {
        connection.keepAlive = false
        queue(router.errorResponse(status: status, message: message), on: connection, method: "-")
        loop.setDeadline(connection.slot, Posix.Process.monotonicNanoseconds() + 1_000_000_000)
        drive(connection)
    }

    private func beginDrain() {
        drainingHandled = true
        for listener in listeners { loop.removeListener(fd: listener.fd) }
        // Once every loop has let go of the listening sockets the control thread closes
        // them, so new clients are refused at once instead of waiting in the backlog.
        shared.drainingLoops.wrappingAdd(1, ordering: .releasing)
        for (_, connection) in loop.all where connection.state != .closed {
            connection.keepAlive = false
            let idle = connection.state == .reading && connection.input.isEmpty
            if idle || connection.state == .proxyHeader { close(connection, reason: "draining", quiet: true) }
        }
    }

    /// Closes the socket now; the loop recycles the slot at the end of its turn, so a stale
    /// event in the same batch cannot reach a new connection.
    func close(_ connection: Connection, reason: String, quiet: Bool = false) {
        guard connection.state != .closed else { return }
        if !quiet { logger.debug("connection_closed", metadata: ["client": "\(connection.client)", "reason": "\(reason)"]) }
        connection.state = .closed
        loop.remove(connection.slot)
        connection.tls = nil
        Socket.close(connection.fd)
        if connection.clientAdmitted { shared.releaseClient(connection.client) }
        shared.releaseConnection()
        closedSinceTrim += 1
    }

    func want(_ connection: Connection, _ interest: Interest) {
        guard connection.state != .closed else { return }
        do {
            try loop.setInterest(connection.slot, interest)
        } catch {
            close(connection, reason: "register_failed")
        }
    }

    func logRequest(_ connection: Connection, method: String, path: String, status: Int, reason: String?) {
        guard router.accessLog else { return }
        var metadata: Logger.Metadata = [
            "listener": "\(connection.listener.name)", "client": "\(connection.loggedClient)",
            "method": "\(method)", "path": "\(path)", "status": .stringConvertible(status),
            "request_id": "\(id)-\(connection.slot.index)-\(connection.requests)",
        ]
        if let reason { metadata["reason"] = "\(reason)" }
        if connection.requestClient != nil { metadata["proxy"] = "\(connection.peer)" }
        logger.info("request", metadata: metadata)
    }

    /// Where a route judged a connection's card: logged and counted once per connection. The
    /// `issuer` label names the CA of the bundle the chain was built to, or `other`: the
    /// certificate's own issuer name is chosen by whoever made it (a forged intermediate can
    /// claim a real root and still be judged `bad_signature`), and every new label value is a
    /// time series kept for ever.
    func recordCardVerdict(_ verdict: CardVerdict, on connection: Connection) {
        let issuer = verdict.peer == nil ? "none" : shared.generation.issuerLabel(verdict.chain.authority)
        metrics.login(reason: verdict.reason, issuer: issuer)
        var fields: Logger.Metadata = [
            "listener": "\(connection.listener.name)", "client": "\(connection.loggedClient)",
            "reason": "\(verdict.reason)", "issuer": "\(issuer)", "via": "\(verdict.origin.via)",
        ]
        if let proxy = verdict.origin.proxy { fields["proxy"] = "\(proxy)" }
        if let peer = verdict.peer {
            fields["serial"] = "\(peer.serialHex)"
            // A log line may say what the certificate claims; a metric label may not.
            fields["certificate_issuer"] = "\(peer.issuer)"
        }
        if let kind = verdict.kind { fields["card_kind"] = "\(kind.rawValue)" }
        if let detail = verdict.rejection?.detail ?? verdict.detail { fields["detail"] = "\(detail)" }
        if let source = verdict.revocationSource { fields["revocation"] = "\(source.rawValue)" }
        if let failure = verdict.ocspFailure { fields["ocsp_failure"] = "\(failure)" }
        logger.info("certificate_verdict", metadata: fields)
    }

    /// A forwarded-certificate header or a proxy refused: logged with the peer it came from,
    /// counted by reason.
    func recordForwardedRefusal(_ connection: Connection, reason: String, detail: String) {
        metrics.forwardedRefused(listener: connection.listener.name, reason: reason)
        logger.warning("forwarded_refused", metadata: [
            "listener": "\(connection.listener.name)", "peer": "\(connection.peer)", "reason": "\(reason)", "detail": "\(detail)",
        ])
    }
}

func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1_000_000_000) }
