import COpenSSL
import COpenSSLShims
#if canImport(Glibc)
import Glibc
#endif
public import Posix

/// How an outgoing TLS connection checks the server and what it presents.
public struct TLSClientConfiguration {
    public enum Trust: Sendable, Equatable {
        /// OpenSSL's system store (`SSL_CERT_FILE` / `SSL_CERT_DIR` override it).
        case system
        /// Only the CA certificates in this PEM file.
        case caFile(String)
    }
    public var trust: Trust
    public var minimumVersion: TLSVersion
    public var maximumVersion: TLSVersion
    /// A client certificate and its key (cns-card's login with the card).
    public var identity: TLSClientIdentity?
    /// OpenSSL's list of signature algorithms for our own CertificateVerify, in our order of
    /// preference (the server's signature may use anything).
    public var clientSignatureAlgorithms: String?

    public init(trust: Trust = .system, minimumVersion: TLSVersion = .tls12, maximumVersion: TLSVersion = .tls13,
                identity: TLSClientIdentity? = nil, clientSignatureAlgorithms: String? = nil) {
        self.trust = trust
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.identity = identity
        self.clientSignatureAlgorithms = clientSignatureAlgorithms
    }
}

/// One blocking outgoing TCP connection, TLS or plain, every step (connect, handshake, each
/// write and read) bounded by a single deadline. The outbound stack's transport: JWKS and CRL
/// fetches, trusted lists, OCSP queries, cns-card's login. Never used on a loop thread.
///
/// The socket is non-blocking and each step waits in poll(2) for what is left of the deadline,
/// so a peer that accepts and then stalls cannot hold the caller for longer than the deadline.
public final class OutboundConnection {
    private let fd: Int32
    private let session: ClientTLSSession?
    public let deadline: Deadline
    /// "host:port" (IPv6 in brackets), for messages.
    public let peer: String

    /// `host` is a name or an IP literal (IPv6 without brackets). With `tls` the server's
    /// chain is verified as the configuration says and its name or address checked against `host`.
    public init(host: String, port: UInt16, tls: TLSClientConfiguration?, deadline: Deadline) throws(TLSError) {
        let peer = Socket.peerName(host: host, port: port)
        let fd: Int32
        do {
            fd = try Socket.connect(host: host, port: port, deadline: deadline)
        } catch {
            throw TLSError(error)
        }
        var session: ClientTLSSession?
        if let tls {
            do throws(TLSError) {
                // The context object may go at once: SSL_new takes its own reference to the SSL_CTX.
                let started = try ClientTLSSession(context: try ClientTLSContext(tls), fd: fd, host: host)
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

    /// The negotiated protocol ("TLSv1.3") and cipher, nil for a plain connection.
    public var tlsVersion: String? { session?.version }
    public var cipher: String? { session?.cipher }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws(TLSError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset..<bytes.count])
            let written: Int? = if let session {
                try session.write(rest, peer: peer)
            } else {
                try plain("write to") { () throws(Errno) in try Socket.send(fd, rest) }
            }
            if let written {
                offset += written
            } else {
                try Self.wait(fd, for: session?.lastWant ?? .writable, until: deadline, during: "write to \(peer)")
            }
        }
    }

    /// Up to `buffer.count` bytes into `buffer`: the count, 0 at the end of the stream.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int {
        while true {
            let count: Int? = if let session {
                try session.read(into: buffer, peer: peer)
            } else {
                try plain("read from") { () throws(Errno) in try Socket.receive(fd, into: buffer) }
            }
            if let count { return count }
            try Self.wait(fd, for: session?.lastWant ?? .readable, until: deadline, during: "read from \(peer)")
        }
    }

    private func plain<T>(_ operation: String, _ body: () throws(Errno) -> T) throws(TLSError) -> T {
        do {
            return try body()
        } catch {
            throw TLSError(.io, "\(operation) \(peer): \(String(cString: strerror(error.code)))")
        }
    }

    private static func wait(_ fd: Int32, for readiness: Socket.Readiness, until deadline: Deadline, during step: String) throws(TLSError) {
        do {
            try Socket.wait(fd, for: readiness, until: deadline, during: step)
        } catch {
            throw TLSError(error)
        }
    }
}

extension TLSError {
    /// The outbound transport's failures keep their code (resolve, connect, timeout, io).
    init(_ error: NetworkError) {
        let code: Code = switch error.code {
        case .resolve: .resolve
        case .connect: .connect
        case .timeout: .timeout
        case .io: .io
        }
        self.init(code, error.reason, file: error.file, line: error.line)
    }
}

/// The client `SSL_CTX` for one outgoing connection: built per connection, which is rare
/// (fetches run every few minutes at most), so the trust material is read fresh each time.
final class ClientTLSContext {
    let pointer: OpaquePointer
    /// The identity's key must outlive the context that uses it.
    private let identity: TLSClientIdentity?

    init(_ configuration: TLSClientConfiguration) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("SSL_CTX_new") }
        pointer = ctx
        identity = configuration.identity
        SSL_CTX_set_security_level(ctx, 2)
        guard CNSSSL_SSL_CTX_set_min_proto_version(ctx, configuration.minimumVersion.protocolVersion) == 1,
              CNSSSL_SSL_CTX_set_max_proto_version(ctx, configuration.maximumVersion.protocolVersion) == 1 else {
            throw Self.failure("TLS versions")
        }
        SSL_CTX_set_options(ctx, CNSSSL_OP_NO_RENEGOTIATION | CNSSSL_OP_NO_COMPRESSION | CNSSSL_OP_NO_TICKET)
        switch configuration.trust {
        case .system:
            // Honours SSL_CERT_FILE and SSL_CERT_DIR, else OpenSSL's compiled-in system paths.
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else {
                throw Self.failure("cannot load the system trust store")
            }
        case .caFile(let path):
            guard SSL_CTX_load_verify_locations(ctx, path, nil) == 1 else {
                throw TLSError.drainingQueue(.certificate, "\(path): cannot load the CA file")
            }
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if let algorithms = configuration.clientSignatureAlgorithms {
            // With server preference set, OpenSSL picks the shared signature algorithm for our
            // CertificateVerify in our order (tls1_set_shared_sigalgs).
            SSL_CTX_set_options(ctx, CNSSSL_OP_CIPHER_SERVER_PREFERENCE)
            guard CNSSSL_SSL_CTX_set1_client_sigalgs_list(ctx, algorithms) == 1 else {
                throw Self.failure("client signature algorithms")
            }
        }
        if let identity = configuration.identity {
            guard SSL_CTX_use_certificate(ctx, identity.certificate.pointer) == 1,
                  SSL_CTX_use_PrivateKey(ctx, identity.pkey) == 1 else {
                throw TLSError.drainingQueue(.privateKey, "the client certificate and key do not go together")
            }
        }
    }

    private static func failure(_ step: String) -> TLSError {
        TLSError(.handshake, "TLS: \(step): \(OpenSSLErrorQueue.drain())")
    }

    deinit { SSL_CTX_free(pointer) }
}

/// One client `SSL` over a connected non-blocking socket.
final class ClientTLSSession {
    private let ssl: OpaquePointer
    /// What the last call that could not finish waits for.
    private(set) var lastWant = Socket.Readiness.readable

    init(context: ClientTLSContext, fd: Int32, host: String) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError(.handshake, "TLS: SSL_new: \(OpenSSLErrorQueue.drain())")
        }
        self.ssl = ssl
        SSL_set_connect_state(ssl)
        guard SSL_set_fd(ssl, fd) == 1 else { throw TLSError(.handshake, "TLS: SSL_set_fd: \(OpenSSLErrorQueue.drain())") }
        if Socket.isIPAddress(host) {
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

    var version: String { String(cString: SSL_get_version(ssl)) }
    var cipher: String { SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "" }

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
            lastWant = .readable
            return true
        case SSL_ERROR_WANT_WRITE:
            lastWant = .writable
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
