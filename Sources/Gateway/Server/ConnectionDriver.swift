import EventLoop
import FoundationEssentials
import HTTP1
import Posix
import ProxyProtocol
import TLS

/// The steps of one connection, driven by readiness: PROXY header, TLS handshake, requests
/// read and routed, responses written. Each step returns true to go on, false to wait for
/// the socket (the interest it needs is set) or after a close.
extension Worker {
    func drive(_ connection: Connection) {
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
        guard let tls = connection.tls else { return false }
        switch tls.handshake() {
        case .done:
            metrics.handshake(listener: connection.listener.name, outcome: "ok")
            if connection.settings?.forwarded == nil {
                // (On a forwarded listener the peer's certificate is the proxy's, not a card.)
                connection.card = ConnectionCard(chain: tls.verdict, presented: tls.presentedCertificates(),
                                                 handshakeAt: Date(), generation: connection.generation.number)
            }
            connection.state = .reading
            connection.waitingForRequestBytes = true
            loop.setDeadline(connection.slot, Posix.Process.monotonicNanoseconds() + nanoseconds(connection.limits.headerTimeout))
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
            if let forwarded = connection.settings?.forwarded, !forwarded.proxyCertificates.isEmpty {
                let detail: String
                switch tls.pinCheck {
                case .notPinned(let sha256): detail = "certificate SHA-256 \(sha256) is not in proxy_certificates"
                case .notChecked: detail = "no proxy certificate (\(error.reason))"
                case .matched: detail = error.reason
                }
                if tls.pinCheck != .matched {
                    recordForwardedRefusal(connection, reason: "proxy_certificate", detail: detail)
                    close(connection, reason: "handshake_failed")
                    return false
                }
            }
            logger.info("tls_handshake_failed", metadata: [
                "listener": "\(connection.listener.name)", "client": "\(connection.client)",
                "reason": "\(tls.verdict.reason.rawValue)", "error": "\(error.reason)",
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
                loop.setDeadline(connection.slot, Posix.Process.monotonicNanoseconds() + nanoseconds(connection.limits.headerTimeout))
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
    /// response, or hands the work to the blocking pool. Returns true when it did either.
    private func parseAndRespond(_ connection: Connection) -> Bool {
        let result = connection.input.withUnsafeBytes { HTTPRequestParser.parse($0, limits: connection.httpLimits) }
        switch result {
        case .needMore:
            return false
        case .error(let error):
            connection.requestClient = nil
            connection.keepAlive = false
            connection.input.removeAll()
            let response = router.errorResponse(status: error.status, message: error.reason)
            logRequest(connection, method: "-", path: "-", status: error.status, reason: "bad_request")
            queue(response, on: connection, method: "-")
            return true
        case .request(let request, let consumed):
            connection.input.removeFirst(consumed)
            connection.requests += 1
            connection.keepAlive = request.keepAlive && !shared.isDraining
            let started = Posix.Process.monotonicNanoseconds()
            let context: RequestContext
            if let settings = connection.settings, let forwarded = settings.forwarded {
                switch ForwardedRequest.read(request, peer: connection.peer, listener: settings, settings: forwarded) {
                case .refused(let reason, let message):
                    connection.requestClient = nil
                    recordForwardedRefusal(connection, reason: reason, detail: message)
                    connection.keepAlive = false
                    finish(connection, method: request.method, path: request.path, started: started,
                           response: router.errorResponse(status: 400, message: message), reason: reason)
                    return true
                case .accepted(let card, let client):
                    // (The peer itself when it is no trusted proxy or names no one else.)
                    connection.requestClient = client == connection.peer ? nil : client
                    context = connection.requestContext(server: shared, card: card, client: client)
                }
            } else {
                context = connection.requestContext(server: shared)
            }
            let result = router.route(request, context: context) { verdict in recordCardVerdict(verdict, on: connection) }
            switch result {
            case .response(let response, let reason):
                finish(connection, method: request.method, path: request.path, started: started, response: response, reason: reason)
            case .deferred(let reason, let lane, let work):
                runOffLoop(work, lane: lane, for: connection, method: request.method, path: request.path, started: started, reason: reason)
            }
            return true
        }
    }

    func finish(_ connection: Connection, method: String, path: String, started: UInt64, response: HTTPResponse, reason: String?) {
        metrics.request(route: GatewayMetrics.routeLabel(path), status: response.status,
                        nanoseconds: Posix.Process.monotonicNanoseconds() &- started)
        logRequest(connection, method: method, path: path, status: response.status, reason: reason)
        queue(response, on: connection, method: method)
    }

    /// `method` is the request's: the answer to HEAD has a GET's headers and no body.
    func queue(_ response: HTTPResponse, on connection: Connection, method: String) {
        if connection.asksForCard,
           Posix.Process.monotonicNanoseconds() &- connection.acceptedAt >= nanoseconds(connection.limits.maxConnectionAge) {
            // Old enough: this response is the connection's last; the browser's next request
            // opens a new one, and the card signs a new handshake.
            connection.keepAlive = false
        }
        // A handler may end the connection (e.g. so the next login runs a fresh handshake).
        // (Length first: lowercasing every header name of every response showed in profiles.)
        if response.headers.contains(where: {
            $0.name.utf8.count == 10 && $0.value.utf8.count == 5
                && $0.name.lowercased() == "connection" && $0.value.lowercased() == "close"
        }) {
            connection.keepAlive = false
        }
        connection.output = serialized(response, keepAlive: connection.keepAlive, head: method == "HEAD")
        connection.outputOffset = 0
        connection.state = .writing
    }

    /// Probes and repeated errors send the same response again and again; comparing is cheap
    /// when the handler returned a cached response (same array buffers), serializing is not
    /// (about a fifth of a kept-alive /healthz request's CPU).
    private func serialized(_ response: HTTPResponse, keepAlive: Bool, head: Bool) -> [UInt8] {
        if let last = lastSerialized, last.keepAlive == keepAlive, last.head == head, last.response == response { return last.bytes }
        let bytes = response.serialize(keepAlive: keepAlive, requestMethod: head ? "HEAD" : "GET")
        if response.body.count <= 1024 { lastSerialized = (response, keepAlive, head, bytes) }
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
            loop.setDeadline(connection.slot, now + nanoseconds(connection.limits.idleTimeout))
            if !(connection.tls?.hasBufferedInput ?? false) {
                // Nothing pipelined: a read now would almost always just say WANT_READ
                // (an SSL_read and a recvfrom per request). epoll is level-triggered, so
                // bytes already in the socket still wake us at once.
                want(connection, .readable)
                return false
            }
        } else {
            connection.waitingForRequestBytes = true
            loop.setDeadline(connection.slot, now + nanoseconds(connection.limits.headerTimeout))
        }
        return true
    }

    /// TLS, or the plain socket on the admin listener and a plain-HTTP forwarded listener.
    private func transportRead(_ connection: Connection) -> TLSIOResult {
        if let tls = connection.tls { return tls.read(into: readBuffer) }
        guard connection.isPlainHTTP else { return .closed }
        do {
            guard let n = try Socket.receive(connection.fd, into: readBuffer) else { return .wantRead }
            return n == 0 ? .closed : .done(n)
        } catch {
            return .closed
        }
    }

    private func transportWrite(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) -> TLSIOResult {
        if let tls = connection.tls { return tls.write(bytes) }
        guard connection.isPlainHTTP else { return .closed }
        do {
            guard let n = try Socket.send(connection.fd, bytes) else { return .wantWrite }
            return .done(n)
        } catch {
            return .closed
        }
    }
}
