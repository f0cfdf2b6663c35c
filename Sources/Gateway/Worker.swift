import EventLoop
import FoundationEssentials
import HTTP1
import Logging
import Posix
import ProxyProtocol
import TLS

/// One event-loop thread: accepts on the shared listening sockets, runs PROXY parsing,
/// the TLS handshake and HTTP/1.1 for its connections, and enforces the deadlines.
/// Nothing here blocks: sockets are non-blocking and OpenSSL reports WANT_READ/WRITE.
final class Worker {
    private let id: Int
    private let reactor: Reactor
    private let shared: SharedState
    private let listeners: [BoundListener]
    private let router: Router
    private let logger: Logger
    private let metrics = MetricsRecorder()
    private let mailbox = Mailbox()
    private let heartbeat: LoopHeartbeats.Beat
    /// How long a deferred handler may take before the client gets a 503.
    static let backendTimeout: UInt64 = 30_000_000_000
    private var slots: [Connection?] = []
    private var slotGenerations: [UInt32] = []
    private var freeSlots: [Int] = []
    private var active = 0
    private var pendingClose: [Connection] = []
    private var readBuffer: UnsafeMutableRawBufferPointer
    private var drainingHandled = false
    private var lastSweep: UInt64 = 0
    private var sinceTrim = 0

    static let listenerTokenBit: UInt64 = 1 << 63
    static let sweepInterval: UInt64 = 100_000_000

    init(id: Int, shared: SharedState, listeners: [BoundListener], router: Router,
         heartbeat: LoopHeartbeats.Beat) throws(Errno) {
        self.id = id
        self.heartbeat = heartbeat
        self.reactor = try Reactor()
        self.shared = shared
        self.listeners = listeners
        self.router = router
        var logger = Logger(label: "cns-gateway.worker")
        logger[metadataKey: "worker"] = "\(id)"
        self.logger = logger
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 16)
        for listener in listeners {
            try reactor.register(fd: listener.fd, token: Worker.listenerTokenBit | UInt64(listener.index),
                                 interest: .readable, exclusive: true)
        }
    }

    deinit { readBuffer.deallocate() }

    var waker: Waker { reactor.waker }

    /// Runs until draining has finished (no connections left).
    func run() {
        while true {
            heartbeat.beat()
            if shared.isDraining {
                if !drainingHandled { beginDrain() }
                if active == 0 { break }
            }
            let timeout: Int32 = active > 0 || shared.isDraining ? 100 : 1000
            do {
                try reactor.poll(timeoutMilliseconds: timeout) { event in
                    handle(event)
                }
            } catch {
                logger.error("event_loop_error", metadata: ["error": "\(error)"])
            }
            for connection in pendingClose { release(connection) }
            pendingClose.removeAll(keepingCapacity: true)
            sweepIfDue()
        }
        for listener in listeners { reactor.deregister(fd: listener.fd) }
    }

    // MARK: events

    private func handle(_ event: ReadyEvent) {
        if event.token == Reactor.wakeToken {
            for delivery in mailbox.takeAll() { deliver(delivery) }
            return
        }
        if event.token & Worker.listenerTokenBit != 0 {
            let index = Int(event.token & ~Worker.listenerTokenBit)
            if index < listeners.count { acceptAll(listeners[index]) }
            return
        }
        let slot = Int(event.token & 0xffff_ffff)
        let generation = UInt32(event.token >> 32)
        guard slot < slots.count, slotGenerations[slot] == generation, let connection = slots[slot] else { return }
        if event.hangup && !event.readable && !event.writable {
            close(connection, reason: "hangup")
            return
        }
        drive(connection)
    }

    private func acceptAll(_ listener: BoundListener) {
        if shared.isDraining { return }
        for _ in 0..<64 {
            let accepted: (fd: Int32, peer: SocketAddress)?
            do {
                accepted = try Socket.accept(listener.fd)
            } catch {
                // EMFILE/ENFILE: the kernel keeps the connection queued; back off this round.
                logger.warning("accept_failed", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                return
            }
            guard let (fd, peer) = accepted else { return }
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
            let slot = allocateSlot()
            let token = UInt64(slot) | (UInt64(slotGenerations[slot]) << 32)
            let connection = Connection(fd: fd, slot: slot, token: token, listener: listener, settings: settings,
                                        generation: generation, peer: peer, now: now)
            slots[slot] = connection
            active += 1
            connection.deadline = now + nanoseconds(listener.admin ? limits.headerTimeout : limits.handshakeTimeout)
            if let settings, settings.proxyProtocol {
                guard settings.trustedProxies.contains(where: { $0.contains(peer) }) else {
                    logger.warning("proxy_refused", metadata: ["listener": "\(listener.name)", "peer": "\(peer)", "reason": "untrusted_proxy"])
                    close(connection, reason: "untrusted_proxy", quiet: true)
                    continue
                }
            } else if !admitClient(connection) {
                continue
            }
            do {
                try reactor.register(fd: fd, token: token, interest: .readable)
            } catch {
                close(connection, reason: "register_failed")
                continue
            }
            drive(connection)
        }
    }

    private func admitClient(_ connection: Connection) -> Bool {
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

    // MARK: the connection state machine

    private func drive(_ connection: Connection) {
        var steps = 0
        while connection.state != .closed {
            steps += 1
            if steps > 64 {
                // Fairness: a client pipelining many requests yields to the others.
                want(connection, .writable)
                return
            }
            switch connection.state {
            case .proxyHeader:
                guard readProxyHeader(connection) else { return }
            case .handshake:
                guard continueHandshake(connection) else { return }
            case .reading:
                guard readRequest(connection) else { return }
            case .writing:
                guard flush(connection) else { return }
            case .waiting, .closed:
                return
            }
        }
    }

    /// Returns true to continue driving, false to wait for the socket.
    private func readProxyHeader(_ connection: Connection) -> Bool {
        let window = UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<min(readBuffer.count, ProxyHeaderParser.maxHeaderLength)])
        let peeked: Int?
        do {
            peeked = try Socket.peek(connection.fd, into: window)
        } catch {
            close(connection, reason: "proxy_read_failed")
            return false
        }
        guard let count = peeked else {
            want(connection, .readable)
            return false
        }
        if count == 0 {
            close(connection, reason: "eof_before_proxy_header")
            return false
        }
        switch ProxyHeaderParser.parse(UnsafeRawBufferPointer(rebasing: window[0..<count])) {
        case .needMore:
            if count >= window.count {
                logger.warning("proxy_header_invalid", metadata: ["listener": "\(connection.listener.name)", "peer": "\(connection.peer)", "error": "header too long"])
                close(connection, reason: "proxy_header_invalid", quiet: true)
                return false
            }
            want(connection, .readable)
            return false
        case .invalid(let error):
            logger.warning("proxy_header_invalid", metadata: ["listener": "\(connection.listener.name)", "peer": "\(connection.peer)", "error": "\(error.reason)"])
            close(connection, reason: "proxy_header_invalid", quiet: true)
            return false
        case .header(let header, let length):
            do {
                try Socket.discard(connection.fd, count: length)
            } catch {
                close(connection, reason: "proxy_read_failed")
                return false
            }
            if header.command == .proxy, let source = header.source {
                connection.client = SocketAddress(family: source.family == .inet ? .inet : .inet6,
                                                  bytes: source.address, port: source.port)
            }
            guard admitClient(connection) else { return false }
            connection.state = .handshake
            return true
        }
    }

    private func continueHandshake(_ connection: Connection) -> Bool {
        if connection.tls == nil {
            guard let context = connection.generation.contexts[connection.listener.name] else {
                close(connection, reason: "no_tls_context")
                return false
            }
            do {
                connection.tls = try TLSConnection(context: context, fd: connection.fd)
            } catch {
                logger.error("tls_setup_failed", metadata: ["error": "\(error)"])
                close(connection, reason: "tls_setup_failed")
                return false
            }
        }
        switch connection.tls!.handshake() {
        case .done:
            metrics.handshake(listener: connection.listener.name, outcome: "ok")
            connection.handshakeCompletedAt = Date()
            connection.state = .reading
            connection.waitingForRequestBytes = true
            connection.deadline = Posix.Process.monotonicNanoseconds() + nanoseconds(connection.limits.headerTimeout)
            return true
        case .wantRead:
            want(connection, .readable)
            return false
        case .wantWrite:
            want(connection, .writable)
            return false
        case .closed:
            metrics.handshake(listener: connection.listener.name, outcome: "aborted")
            close(connection, reason: "closed_during_handshake")
            return false
        case .failed(let error):
            metrics.handshake(listener: connection.listener.name, outcome: "failed")
            logger.info("tls_handshake_failed", metadata: [
                "listener": "\(connection.listener.name)", "client": "\(connection.client)",
                "reason": "\(connection.tls!.verdict.reason.rawValue)", "error": "\(error.reason)",
            ])
            close(connection, reason: "handshake_failed")
            return false
        }
    }

    private func readRequest(_ connection: Connection) -> Bool {
        if !connection.input.isEmpty, parseAndRespond(connection) { return true }
        if connection.state != .reading { return true }
        switch transportRead(connection) {
        case .done(let count):
            if connection.input.isEmpty && connection.waitingForRequestBytes == false {
                // First byte of a new request on a kept-alive connection: the header
                // deadline starts now.
                connection.waitingForRequestBytes = true
                connection.deadline = Posix.Process.monotonicNanoseconds() + nanoseconds(connection.limits.headerTimeout)
            }
            connection.input.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
            if parseAndRespond(connection) { return true }
            return connection.state != .closed
        case .wantRead:
            want(connection, .readable)
            return false
        case .wantWrite:
            want(connection, .writable)
            return false
        case .closed:
            close(connection, reason: "peer_closed")
            return false
        case .failed(let error):
            logger.debug("tls_read_failed", metadata: ["error": "\(error.reason)"])
            close(connection, reason: "tls_error")
            return false
        }
    }

    /// Parses what is buffered; on a complete request (or a framing error) queues the
    /// response and switches to writing. Returns true when a response was queued.
    private func parseAndRespond(_ connection: Connection) -> Bool {
        let result = connection.input.withUnsafeBytes { HTTPRequestParser.parse($0, limits: connection.httpLimits) }
        switch result {
        case .needMore:
            return false
        case .error(let error):
            connection.keepAlive = false
            connection.input.removeAll()
            let response = router.errorResponse(status: error.status, message: error.reason)
            logRequest(connection, method: "-", path: "-", status: error.status, reason: "bad_request")
            queue(response, on: connection)
            return true
        case .request(let request, let consumed):
            connection.input.removeFirst(consumed)
            connection.requests += 1
            connection.keepAlive = request.keepAlive && !shared.isDraining
            let context = RequestContext(connection: connection, shared: shared, metrics: metrics, logger: logger)
            let started = Posix.Process.monotonicNanoseconds()
            let result: Router.RouteResult = connection.isAdmin
                ? .response(router.respondAdmin(to: request, context: context))
                : router.route(request, context: context)
            switch result {
            case .response(let response):
                finish(connection, method: request.method, path: request.path, started: started,
                       response: response, reason: context.reasonForLog)
            case .deferred(let work):
                connection.state = .waiting
                connection.pendingRequest = (request.method, request.path, started)
                connection.deadline = Posix.Process.monotonicNanoseconds() + Worker.backendTimeout
                want(connection, .none)
                let token = connection.token
                let mailbox = self.mailbox
                let waker = reactor.waker
                BlockingPool.shared.submit {
                    mailbox.post(Mailbox.Delivery(token: token, response: work()))
                    waker.wake()
                }
            }
            return true
        }
    }

    private func finish(_ connection: Connection, method: String, path: String, started: UInt64,
                        response: HTTPResponse, reason: String?) {
        metrics.request(route: GatewayMetrics.routeLabel(path), status: response.status,
                        nanoseconds: Posix.Process.monotonicNanoseconds() &- started)
        logRequest(connection, method: method, path: path, status: response.status, reason: reason)
        queue(response, on: connection)
        if method == "HEAD" { connection.output = response.serialize(keepAlive: connection.keepAlive, requestMethod: method) }
    }

    /// A deferred handler's response comes back to the loop that owns the connection.
    private func deliver(_ delivery: Mailbox.Delivery) {
        let slot = Int(delivery.token & 0xffff_ffff)
        guard slot < slots.count, slotGenerations[slot] == UInt32(delivery.token >> 32),
              let connection = slots[slot], connection.state == .waiting,
              let pending = connection.pendingRequest else { return }
        connection.pendingRequest = nil
        finish(connection, method: pending.method, path: pending.path, started: pending.started,
               response: delivery.response, reason: connection.loginVerdict?.reason)
        drive(connection)
    }

    private func queue(_ response: HTTPResponse, on connection: Connection) {
        // A handler may end the connection (e.g. so the next login runs a fresh handshake).
        // (Length first: lowercasing every header name of every response showed in profiles.)
        if response.headers.contains(where: {
            $0.name.utf8.count == 10 && $0.value.utf8.count == 5
                && $0.name.lowercased() == "connection" && $0.value.lowercased() == "close"
        }) {
            connection.keepAlive = false
        }
        connection.output = serialized(response, keepAlive: connection.keepAlive)
        connection.outputOffset = 0
        connection.state = .writing
    }

    /// The last small response serialized on this loop. Probes and repeated errors send
    /// the same response again and again; comparing is cheap when the handler returned
    /// a cached response (same array buffers), serializing is not (about a fifth of a
    /// kept-alive /healthz request's CPU).
    private var lastSerialized: (response: HTTPResponse, keepAlive: Bool, bytes: [UInt8])?

    private func serialized(_ response: HTTPResponse, keepAlive: Bool) -> [UInt8] {
        if let last = lastSerialized, last.keepAlive == keepAlive, last.response == response { return last.bytes }
        let bytes = response.serialize(keepAlive: keepAlive)
        if response.body.count <= 1024 { lastSerialized = (response, keepAlive, bytes) }
        return bytes
    }

    private func flush(_ connection: Connection) -> Bool {
        while connection.outputOffset < connection.output.count {
            let result = connection.output.withUnsafeBytes {
                transportWrite(connection, UnsafeRawBufferPointer(rebasing: $0[connection.outputOffset...]))
            }
            switch result {
            case .done(let n):
                connection.outputOffset += n
            case .wantWrite:
                want(connection, .writable)
                return false
            case .wantRead:
                want(connection, .readable)
                return false
            case .closed, .failed:
                close(connection, reason: "write_failed")
                return false
            }
        }
        connection.output = []
        connection.outputOffset = 0
        if !connection.keepAlive || shared.isDraining {
            connection.tls?.shutdown()
            close(connection, reason: "done")
            return false
        }
        connection.state = .reading
        let now = Posix.Process.monotonicNanoseconds()
        if connection.input.isEmpty {
            connection.waitingForRequestBytes = false
            connection.deadline = now + nanoseconds(connection.limits.idleTimeout)
            if !(connection.tls?.hasBufferedInput ?? false) {
                // Nothing pipelined: a read now would almost always just say WANT_READ
                // (an SSL_read and a recvfrom per request). epoll is level-triggered, so
                // bytes already in the socket still wake us at once.
                want(connection, .readable)
                return false
            }
        } else {
            connection.waitingForRequestBytes = true
            connection.deadline = now + nanoseconds(connection.limits.headerTimeout)
        }
        return true
    }

    /// TLS, or the plain socket on the admin listener.
    private func transportRead(_ connection: Connection) -> TLSIOResult {
        if let tls = connection.tls { return tls.read(into: readBuffer) }
        guard connection.isAdmin else { return .closed }
        do {
            guard let n = try Socket.receive(connection.fd, into: readBuffer) else { return .wantRead }
            return n == 0 ? .closed : .done(n)
        } catch {
            return .closed
        }
    }

    private func transportWrite(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) -> TLSIOResult {
        if let tls = connection.tls { return tls.write(bytes) }
        guard connection.isAdmin else { return .closed }
        do {
            guard let n = try Socket.send(connection.fd, bytes) else { return .wantWrite }
            return .done(n)
        } catch {
            return .closed
        }
    }

    private func want(_ connection: Connection, _ interest: Connection.EventInterest) {
        guard connection.state != .closed, connection.interest != interest else { return }
        connection.interest = interest
        do {
            let mapped: Interest = switch interest {
            case .readable: .readable
            case .writable: .writable
            case .none: .none
            }
            try reactor.modify(fd: connection.fd, token: connection.token, interest: mapped)
        } catch {
            close(connection, reason: "register_failed")
        }
    }

    // MARK: deadlines, draining, slots

    private func sweepIfDue() {
        let now = Posix.Process.monotonicNanoseconds()
        guard now &- lastSweep >= Worker.sweepInterval else { return }
        lastSweep = now
        for case let connection? in slots where connection.state != .closed && now >= connection.deadline {
            expire(connection)
        }
        for connection in pendingClose { release(connection) }
        pendingClose.removeAll(keepingCapacity: true)
    }

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
            logger.error("backend_timeout", metadata: ["client": "\(connection.client)", "path": "\(connection.pendingRequest?.path ?? "-")"])
            connection.pendingRequest = nil
            answerAndClose(connection, status: 503, message: "temporarily unavailable")
        case .closed:
            break
        }
    }

    /// A last answer on a connection whose deadline passed, then close; one more second
    /// to write it.
    private func answerAndClose(_ connection: Connection, status: Int, message: String) {
        connection.keepAlive = false
        queue(router.errorResponse(status: status, message: message), on: connection)
        connection.deadline = Posix.Process.monotonicNanoseconds() + 1_000_000_000
        drive(connection)
    }

    private func beginDrain() {
        drainingHandled = true
        for listener in listeners { reactor.deregister(fd: listener.fd) }
        // Once every loop has let go of the listening sockets the control thread closes
        // them, so new clients are refused at once instead of waiting in the backlog.
        shared.drainingLoops.wrappingAdd(1, ordering: .releasing)
        for case let connection? in slots where connection.state != .closed {
            connection.keepAlive = false
            let idle = connection.state == .reading && connection.input.isEmpty
            if idle || connection.state == .proxyHeader { close(connection, reason: "draining", quiet: true) }
        }
        for connection in pendingClose { release(connection) }
        pendingClose.removeAll()
    }

    private func allocateSlot() -> Int {
        if let slot = freeSlots.popLast() { return slot }
        slots.append(nil)
        slotGenerations.append(0)
        return slots.count - 1
    }

    /// Closes the socket now; the slot is recycled after the current event batch so a
    /// stale event in the same batch cannot reach a new connection.
    private func close(_ connection: Connection, reason: String, quiet: Bool = false) {
        guard connection.state != .closed else { return }
        if !quiet { logger.debug("connection_closed", metadata: ["client": "\(connection.client)", "reason": "\(reason)"]) }
        connection.state = .closed
        reactor.deregister(fd: connection.fd)
        connection.tls = nil
        Socket.close(connection.fd)
        if connection.clientAdmitted { shared.releaseClient(connection.client) }
        shared.releaseConnection()
        pendingClose.append(connection)
    }

    private func release(_ connection: Connection) {
        guard slots[connection.slot] === connection else { return }
        slots[connection.slot] = nil
        slotGenerations[connection.slot] &+= 1
        freeSlots.append(connection.slot)
        active -= 1
        sinceTrim += 1
        if active == 0 && sinceTrim > 256 {
            // After a burst (e.g. a flood of idle connections) give the memory back.
            sinceTrim = 0
            Posix.Process.trimHeap()
        }
    }

    private func logRequest(_ connection: Connection, method: String, path: String, status: Int, reason: String?) {
        guard router.accessLog else { return }
        var metadata: Logger.Metadata = [
            "listener": "\(connection.listener.name)", "client": "\(connection.client)",
            "method": "\(method)", "path": "\(path)", "status": .stringConvertible(status),
            "request_id": "\(id)-\(connection.slot)-\(connection.requests)",
        ]
        if let reason { metadata["reason"] = "\(reason)" }
        logger.info("request", metadata: metadata)
    }
}

func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1_000_000_000) }
