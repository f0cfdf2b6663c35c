import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// The result of one non-blocking TLS operation.
public enum TLSIOResult: Sendable {
    case done(Int)
    case wantRead
    case wantWrite
    /// The peer closed (close_notify or EOF).
    case closed
    case failed(TLSError)
}

/// What the peer presented, read once after the handshake.
public struct PeerCertificate: Sendable {
    public var subject: String
    public var issuer: String
    public var serialHex: String
    public var sha256: String
    public var notBefore: Date?
    public var notAfter: Date?
    public var der: [UInt8]
}

/// One server-side TLS session over a non-blocking socket. Owned by one loop thread.
public final class TLSConnection {
    let ssl: OpaquePointer
    public let context: TLSContext
    public internal(set) var verdict: CertificateVerdict = .noCertificate
    /// On a context with pinned client certificates: whether the peer's matched.
    public internal(set) var pinCheck: PinCheck = .notChecked

    public enum PinCheck: Sendable, Equatable {
        /// No certificate came (or the context pins none).
        case notChecked
        case matched
        /// The certificate presented, by SHA-256 (lowercase hex), is not one of the pins.
        case notPinned(sha256: String)
    }

    public init(context: TLSContext, fd: Int32) throws(TLSError) {
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError.drainingQueue(.context, "SSL_new")
        }
        self.ssl = ssl
        self.context = context
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
        // Without read-ahead OpenSSL reads every record in two recv calls (header, then
        // body). With it, one recv per request; the worker then asks `hasBufferedInput`
        // before it waits for epoll, since bytes OpenSSL holds never wake the socket.
        SSL_set_read_ahead(ssl, 1)
        SSL_set_ex_data(ssl, connectionExDataIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        // SSL_free drops the session from the context's cache unless the connection was
        // shut down (ssl_clear_bad_session): a client that closes without close_notify, or
        // our own idle timeout, would cost the next connection a full handshake. A fatal
        // alert has already removed the session, so this marks only connections that ended
        // without one, as nginx does.
        if SSL_is_init_finished(ssl) == 1 { SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN) }
        SSL_free(ssl)
    }

    /// The connection whose SSL is verifying in `storeCtx`.
    static func owning(_ storeCtx: OpaquePointer) -> TLSConnection? {
        guard let raw = X509_STORE_CTX_get_ex_data(storeCtx, SSL_get_ex_data_X509_STORE_CTX_idx()),
              let connection = SSL_get_ex_data(OpaquePointer(raw), connectionExDataIndex) else { return nil }
        return Unmanaged<TLSConnection>.fromOpaque(connection).takeUnretainedValue()
    }

    public func handshake() -> TLSIOResult {
        OpenSSLErrorQueue.clear()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .done(0) }
        return classify(rc, operation: "handshake")
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult {
        OpenSSLErrorQueue.clear()
        var count = 0
        let rc = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        if rc == 1 { return .done(count) }
        return classify(rc, operation: "read")
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> TLSIOResult {
        OpenSSLErrorQueue.clear()
        var count = 0
        let rc = SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count)
        if rc == 1 { return .done(count) }
        return classify(rc, operation: "write")
    }

    /// True once the handshake has finished (the version, cipher, ALPN and the client's
    /// signature scheme are then fixed for the connection: renegotiation is off).
    public var isHandshakeFinished: Bool { SSL_is_init_finished(ssl) == 1 }

    /// True when OpenSSL holds received bytes not yet returned by `read` (a further
    /// record already read from the socket): the socket may then never turn readable again.
    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// Sends close_notify without waiting for the peer's (we close the socket next).
    public func shutdown() {
        OpenSSLErrorQueue.clear()
        if SSL_is_init_finished(ssl) == 1 { _ = SSL_shutdown(ssl) }
        OpenSSLErrorQueue.clear()
    }

    private func classify(_ rc: Int32, operation: String) -> TLSIOResult {
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            let queue = OpenSSLErrorQueue.drain()
            return queue.isEmpty ? .closed : .failed(TLSError(.io, "\(operation): \(queue)"))
        default:
            return .failed(TLSError.drainingQueue(.handshake, operation))
        }
    }

    public var version: String { String(cString: SSL_get_version(ssl)) }

    public var cipher: String {
        guard let cipher = SSL_get_current_cipher(ssl) else { return "" }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    /// The scheme the client signed its CertificateVerify with, after RFC 8446's names:
    /// `rsa_pkcs1_sha256`, `rsa_pss_sha256` (rsae or pss key alike), `ecdsa_sha256`, `ed25519`;
    /// nil when the client signed nothing. What tells a card middleware that
    /// can only do PKCS#1 v1.5 (the CIE's) apart: over TLS 1.3 it cannot sign at all.
    public var peerSignatureScheme: String? {
        var type: Int32 = 0
        var digest: Int32 = 0
        guard SSL_get_peer_signature_type_nid(ssl, &type) == 1, CNSSSL_SSL_get_peer_signature_nid(ssl, &digest) == 1 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        let hash = digest == NID_undef ? "" : String(cString: OBJ_nid2sn(digest)).lowercased().replacing("-", with: "")
        switch type {
        case EVP_PKEY_RSA: return "rsa_pkcs1_" + hash
        case EVP_PKEY_RSA_PSS: return "rsa_pss_" + hash
        case EVP_PKEY_EC: return "ecdsa_" + hash
        case EVP_PKEY_ED25519: return "ed25519"
        case EVP_PKEY_ED448: return "ed448"
        default: return String(cString: OBJ_nid2sn(type))
        }
    }

    public var alpn: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }
}

extension PeerCertificate {
    /// Reads the same fields from a DER certificate; nil when it does not parse.
    public init?(der: [UInt8]) {
        guard let cert = X509Certificate(der: der) else { return nil }
        self.init(reading: cert.pointer, der: der)
    }

    /// The fields of a borrowed `X509*`, the handshake's peer or a parsed file alike.
    init(reading cert: OpaquePointer, der: [UInt8]) {
        self.init(
            subject: X509Inspector.name(X509_get_subject_name(cert)),
            issuer: X509Inspector.name(X509_get_issuer_name(cert)),
            serialHex: X509Inspector.serialHex(cert),
            sha256: X509Inspector.sha256(cert).hexString,
            notBefore: X509Inspector.date(X509_get0_notBefore(cert)),
            notAfter: X509Inspector.date(X509_get0_notAfter(cert)),
            der: der)
    }
}
