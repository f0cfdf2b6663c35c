import COpenSSL
import COpenSSLShims
#if canImport(Glibc)
import Glibc
#endif
import Posix

/// One blocking outgoing TCP connection, TLS or plain, every step (connect, handshake, each
/// write and read) bounded by a single deadline. For the rare fetch the control thread makes
/// (a client's `jwks_uri` at start and on SIGHUP), never for a loop thread.
///
/// The socket is non-blocking and each step waits in poll(2) for what is left of the deadline,
/// so a peer that accepts and then stalls cannot hold a reload for longer than the timeout.
/// Name resolution (getaddrinfo) is the one step the deadline cannot bound.
public final class OutboundConnection {
    private let fd: Int32
    private let session: ClientTLSSession?
    private let deadline: Deadline
    /// "host:port" (IPv6 in brackets), for messages.
    public let peer: String

    /// `host` is a name or an IP literal (IPv6 without brackets). With `useTLS` the server's
    /// chain is verified against the system trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR`
    /// override it) and its name or address checked against `host`.
    public init(host: String, port: UInt16, useTLS: Bool, timeoutSeconds: Int) throws(TLSError) {
        let peer = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let deadline = Deadline(seconds: timeoutSeconds)
        let fd = try Self.connect(host: host, port: port, peer: peer, deadline: deadline)
        var session: ClientTLSSession?
        if useTLS {
            do throws(TLSError) {
                // The context object may go at once: SSL_new takes its own reference to the SSL_CTX.
                let started = try ClientTLSSession(context: try ClientTLSContext(), fd: fd, host: host)
                while try !started.handshake(peer: peer) {
                    try Self.wait(fd, for: started.lastWant, until: deadline, during: "TLS handshake with \(peer)")
                }
                session = started
            } catch {
                Socket.close(fd)
                throw error
            }
        }
        self.fd = fd
        self.session = session
        self.deadline = deadline
        self.peer = peer
    }

    deinit { Socket.close(fd) }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws(TLSError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        var offset = 0
        while offset < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
            let written: Int? = if let session {
                try session.write(rest, peer: peer)
            } else {
                try plain("write to") { () throws(Errno) in try Socket.send(fd, rest) }
            }
            if let written {
                offset += written
            } else {
                try Self.wait(fd, for: session?.lastWant ?? Int16(POLLOUT), until: deadline, during: "write to \(peer)")
            }
        }
    }

    /// Up to `limit` bytes; empty at the end of the stream.
    public func receive(limit: Int = 16_384) throws(TLSError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: limit, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count: Int? = if let session {
                try session.read(into: buffer, peer: peer)
            } else {
                try plain("read from") { () throws(Errno) in try Socket.receive(fd, into: buffer) }
            }
            if let count { return Array(UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
            try Self.wait(fd, for: session?.lastWant ?? Int16(POLLIN), until: deadline, during: "read from \(peer)")
        }
    }

    private func plain<T>(_ operation: String, _ body: () throws(Errno) -> T) throws(TLSError) -> T {
        do {
            return try body()
        } catch {
            throw TLSError(.io, "\(operation) \(peer): \(String(cString: strerror(error.code)))")
        }
    }

    // MARK: connect

    private static func connect(host: String, port: UInt16, peer: String, deadline: Deadline) throws(TLSError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else {
            throw TLSError(.resolve, "resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        // Every address in the resolver's order (RFC 6724); the last failure is the one reported.
        var failure = TLSError(.connect, "connect to \(peer): no address")
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let entry = next?.pointee {
            next = entry.ai_next
            do {
                return try connect(entry, peer: peer, deadline: deadline)
            } catch where error.code == .connect {
                failure = error
            }
        }
        throw failure
    }

    private static func connect(_ entry: addrinfo, peer: String, deadline: Deadline) throws(TLSError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(entry.ai_family, type, entry.ai_protocol)
        guard fd >= 0 else { throw TLSError(.connect, "connect to \(peer): socket: \(String(cString: strerror(errno)))") }
        do throws(TLSError) {
            if Glibc.connect(fd, entry.ai_addr, entry.ai_addrlen) != 0 {
                // A non-blocking connect interrupted by a signal goes on in the background,
                // like EINPROGRESS; calling connect again would only answer EALREADY.
                let code = errno
                guard code == EINPROGRESS || code == EINTR else {
                    throw TLSError(.connect, "connect to \(peer): \(String(cString: strerror(code)))")
                }
                try wait(fd, for: Int16(POLLOUT), until: deadline, during: "connect to \(peer)")
                var pending: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) != 0 { pending = errno }
                if pending != 0 {
                    throw TLSError(.connect, "connect to \(peer): \(String(cString: strerror(pending)))")
                }
            }
            return fd
        } catch {
            Socket.close(fd)
            throw error
        }
    }

    /// poll(2) for `events` with what is left of the deadline. Error and hang-up conditions
    /// return too: the next call on the socket reports them.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: Deadline, during step: String) throws(TLSError) {
        while true {
            let milliseconds = deadline.remainingMilliseconds
            guard milliseconds > 0 else {
                throw TLSError(.timeout, "timed out after \(deadline.seconds) s (\(step))")
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw TLSError(.io, "\(step): poll: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// The whole budget of one connection, on the monotonic clock.
struct Deadline {
    let seconds: Int
    private let end: UInt64

    init(seconds: Int) {
        self.seconds = seconds
        end = Posix.Process.monotonicNanoseconds() + UInt64(max(seconds, 0)) * 1_000_000_000
    }

    var remainingMilliseconds: Int32 {
        let now = Posix.Process.monotonicNanoseconds()
        guard now < end else { return 0 }
        // Rounded up: poll would otherwise spin through the last sub-millisecond with 0.
        return Int32((end - now + 999_999) / 1_000_000)
    }
}

/// The client `SSL_CTX` for one outgoing connection: built per fetch, which is rare
/// (once per generation per `jwks_uri`), so the trust store is read fresh each time.
final class ClientTLSContext {
    let pointer: OpaquePointer

    init() throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("SSL_CTX_new") }
        pointer = ctx
        SSL_CTX_set_security_level(ctx, 2)
        guard CNSSSL_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw Self.failure("minimum TLS version")
        }
        SSL_CTX_set_options(ctx, CNSSSL_OP_NO_RENEGOTIATION | CNSSSL_OP_NO_COMPRESSION)
        // Honours SSL_CERT_FILE and SSL_CERT_DIR, else OpenSSL's compiled-in system paths.
        guard SSL_CTX_set_default_verify_paths(ctx) == 1 else {
            throw Self.failure("cannot load the system trust store")
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
    }

    private static func failure(_ step: String) -> TLSError {
        TLSError(.handshake, "TLS: \(step): \(OpenSSLErrorQueue.drain())")
    }

    deinit { SSL_CTX_free(pointer) }
}

/// One client `SSL` over a connected non-blocking socket.
final class ClientTLSSession {
    private let ssl: OpaquePointer
    /// What the last call that could not finish waits for (POLLIN or POLLOUT).
    private(set) var lastWant = Int16(POLLIN)

    init(context: ClientTLSContext, fd: Int32, host: String) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError(.handshake, "TLS: SSL_new: \(OpenSSLErrorQueue.drain())")
        }
        self.ssl = ssl
        SSL_set_connect_state(ssl)
        guard SSL_set_fd(ssl, fd) == 1 else { throw TLSError(.handshake, "TLS: SSL_set_fd: \(OpenSSLErrorQueue.drain())") }
        if Self.isIPAddress(host) {
            // RFC 6066 section 3: no SNI for an address; the certificate must name the address itself.
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 else {
                throw TLSError(.handshake, "TLS: cannot check the address \(host): \(OpenSSLErrorQueue.drain())")
            }
        } else {
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard SSL_set1_host(ssl, host) == 1, CNSSSL_SSL_set_tlsext_host_name(ssl, host) == 1 else {
                throw TLSError(.handshake, "TLS: cannot use the host name \(host): \(OpenSSLErrorQueue.drain())")
            }
        }
    }

    deinit { SSL_free(ssl) }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// True when done, false when it must wait for `lastWant`.
    func handshake(peer: String) throws(TLSError) -> Bool {
        OpenSSLErrorQueue.clear()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return true }
        if wants(rc) { return false }
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK) {
            OpenSSLErrorQueue.clear()
            let reason = String(cString: X509_verify_cert_error_string(verify))
            throw TLSError(.certificate, "TLS: certificate verify failed: \(reason) (\(peer))")
        }
        throw TLSError(.handshake, "TLS handshake with \(peer): \(failure(rc))")
    }

    /// The byte count, or nil when it must wait for `lastWant`.
    func write(_ bytes: UnsafeRawBufferPointer, peer: String) throws(TLSError) -> Int? {
        OpenSSLErrorQueue.clear()
        var count = 0
        let rc = SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count)
        if rc == 1 { return count }
        if wants(rc) { return nil }
        throw TLSError(.io, "TLS write to \(peer): \(failure(rc))")
    }

    /// The byte count, 0 after the peer's close_notify, or nil when it must wait for `lastWant`.
    /// A close without close_notify is an error (OpenSSL 3's default): a close-delimited
    /// body could otherwise be cut short by anyone on the path (RFC 8446 section 6.1).
    func read(into buffer: UnsafeMutableRawBufferPointer, peer: String) throws(TLSError) -> Int? {
        OpenSSLErrorQueue.clear()
        var count = 0
        let rc = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        if rc == 1 { return count }
        if SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN { return 0 }
        if wants(rc) { return nil }
        throw TLSError(.io, "TLS read from \(peer): \(failure(rc))")
    }

    /// True (with `lastWant` set) when the call only has to be repeated once the socket is ready.
    private func wants(_ rc: Int32) -> Bool {
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ:
            lastWant = Int16(POLLIN)
            return true
        case SSL_ERROR_WANT_WRITE:
            lastWant = Int16(POLLOUT)
            return true
        default:
            return false
        }
    }

    /// OpenSSL's reason, or for a failed system call its errno.
    private func failure(_ rc: Int32) -> String {
        let code = errno
        let kind = SSL_get_error(ssl, rc)
        let queue = OpenSSLErrorQueue.drain()
        if !queue.isEmpty { return queue }
        return kind == SSL_ERROR_SYSCALL && code != 0 ? String(cString: strerror(code)) : "connection closed"
    }
}
