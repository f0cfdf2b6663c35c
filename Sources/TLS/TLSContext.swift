import COpenSSL
import COpenSSLShims
import FoundationEssentials

public enum ClientCertificateMode: String, Sendable {
    case none, optional, require
}

public enum TLSVersion: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"

    var protocolVersion: Int32 { self == .tls12 ? TLS1_2_VERSION : TLS1_3_VERSION }
}

/// Everything one listener's TLS context is built from.
public struct TLSContextConfiguration: Sendable {
    public var certificateChainFile: String
    public var privateKeyFile: String
    public var clientCertificate: ClientCertificateMode
    public var versions: [TLSVersion]
    public var sendCANames: Bool
    /// SHA-256 digests of the only client certificates a handshake may complete with (a reverse
    /// proxy authenticating itself). When set, `clientCertificate` is ignored: the certificate
    /// is required, judged by its pin alone (not by the trust store), and any other ends the
    /// handshake with an alert.
    public var pinnedClientCertificates: Set<[UInt8]>

    public init(certificateChainFile: String, privateKeyFile: String, clientCertificate: ClientCertificateMode,
                versions: [TLSVersion], sendCANames: Bool, pinnedClientCertificates: Set<[UInt8]> = []) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCertificate = clientCertificate
        self.versions = versions
        self.sendCANames = sendCANames
        self.pinnedClientCertificates = pinnedClientCertificates
    }
}

/// The SSL ex_data slot holding the `TLSConnection` that owns an SSL. Allocated once.
let connectionExDataIndex: Int32 = CNSSSL_SSL_get_ex_new_index()

/// One listener's `SSL_CTX`, built once per generation and swapped whole on reload.
///
/// `@unchecked Sendable`: after `init` the SSL_CTX is never mutated; creating SSL
/// objects from a shared SSL_CTX is thread-safe in OpenSSL.
public final class TLSContext: @unchecked Sendable {
    let pointer: OpaquePointer
    public let trust: TrustStore
    public let configuration: TLSContextConfiguration

    public init(_ configuration: TLSContextConfiguration, trust: TrustStore) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.drainingQueue(.context, "SSL_CTX_new")
        }
        self.pointer = ctx
        self.trust = trust
        self.configuration = configuration

        // Our own TLS stays at modern strength whatever the card chains need: the legacy
        // relaxation happens only inside client-chain verification.
        SSL_CTX_set_security_level(ctx, 2)
        let versions = configuration.versions.map(\.protocolVersion)
        guard let low = versions.min(), let high = versions.max() else {
            throw TLSError(.configuration, "tls_versions is empty")
        }
        _ = CNSSSL_SSL_CTX_set_min_proto_version(ctx, low)
        _ = CNSSSL_SSL_CTX_set_max_proto_version(ctx, high)
        SSL_CTX_set_options(ctx, CNSSSL_OP_NO_RENEGOTIATION | CNSSSL_OP_CIPHER_SERVER_PREFERENCE | CNSSSL_OP_NO_COMPRESSION)
        // OpenSSL 3 treats a peer's EOF without close_notify as a fatal error, and a fatal
        // error drops the session from the cache: a browser that simply closes its connection
        // would cost its next one a full handshake. The gateway reads requests only (HTTP
        // framing says where each ends), so a truncation tells it nothing it could act on;
        // nginx sets the same option.
        SSL_CTX_set_options(ctx, CNSSSL_OP_IGNORE_UNEXPECTED_EOF)
        _ = CNSSSL_SSL_CTX_set_mode(ctx, CNSSSL_MODE_ENABLE_PARTIAL_WRITE | CNSSSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | CNSSSL_MODE_RELEASE_BUFFERS)
        guard SSL_CTX_set_cipher_list(ctx, TLSContext.tls12Ciphers) == 1,
              CNSSSL_SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") == 1 else {
            throw TLSError.drainingQueue(.context, "cipher or group list")
        }

        guard SSL_CTX_use_certificate_chain_file(ctx, configuration.certificateChainFile) == 1 else {
            throw TLSError.drainingQueue(.certificate, "\(configuration.certificateChainFile): cannot use certificate chain")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, configuration.privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError.drainingQueue(.privateKey, "\(configuration.privateKeyFile): cannot use private key")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError.drainingQueue(.privateKey, "\(configuration.privateKeyFile): key does not match \(configuration.certificateChainFile)")
        }

        let sessionID: [UInt8] = Array("cns-gateway".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sessionID, UInt32(sessionID.count))
        SSL_CTX_set_alpn_select_cb(ctx, alpnSelect, nil)

        if !configuration.pinnedClientCertificates.isEmpty {
            // Every connection runs the full handshake, so every connection shows its pinned
            // certificate (a resumed session would skip the check below).
            SSL_CTX_set_options(ctx, CNSSSL_OP_NO_TICKET)
            _ = CNSSSL_SSL_CTX_set_session_cache_mode(ctx, CNSSSL_SESS_CACHE_OFF)
            _ = SSL_CTX_set_num_tickets(ctx, 0)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
            SSL_CTX_set_cert_verify_callback(ctx, pinVerifyCallback, Unmanaged.passUnretained(self).toOpaque())
            OpenSSLErrorQueue.clear()
            return
        }
        switch configuration.clientCertificate {
        case .none:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        case .optional, .require:
            // A client-certificate login must always see the card: no resumption, so
            // every connection runs the full handshake and a fresh chain verification.
            SSL_CTX_set_options(ctx, CNSSSL_OP_NO_TICKET)
            _ = CNSSSL_SSL_CTX_set_session_cache_mode(ctx, CNSSSL_SESS_CACHE_OFF)
            _ = SSL_CTX_set_num_tickets(ctx, 0)
            let mode = configuration.clientCertificate == .require
                ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(ctx, mode, nil)
            SSL_CTX_set_verify_depth(ctx, 8)
            SSL_CTX_set1_cert_store(ctx, trust.store)
            if configuration.sendCANames, let names = trust.makeCANameStack() {
                SSL_CTX_set_client_CA_list(ctx, names)
            }
            SSL_CTX_set_cert_verify_callback(ctx, chainVerifyCallback, Unmanaged.passUnretained(self).toOpaque())
        }
        OpenSSLErrorQueue.clear()
    }

    deinit { SSL_CTX_free(pointer) }

    static let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// Verifies the client chain with our policy and records the verdict on the
    /// connection. The handshake fails only in `require` mode.
    fileprivate func verify(_ storeCtx: OpaquePointer, connection: TLSConnection) -> Int32 {
        let verdict = ChainVerifier.cachedRun(storeCtx, trust: trust)
        connection.verdict = verdict
        if configuration.clientCertificate == .require && verdict.reason != .ok { return 0 }
        return 1
    }
}

/// The pinned-certificate check: the presented leaf's SHA-256 must be one of the pins. The
/// outcome is recorded on the connection for the log; a miss fails the handshake.
private func pinVerifyCallback(_ storeCtx: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let storeCtx, let arg, let connection = TLSConnection.owning(storeCtx),
          let leaf = X509_STORE_CTX_get0_cert(storeCtx) else { return 0 }
    let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
    let digest = X509Inspector.sha256(leaf)
    if context.configuration.pinnedClientCertificates.contains(digest) {
        connection.pinCheck = .matched
        X509_STORE_CTX_set_error(storeCtx, X509_V_OK)
        return 1
    }
    connection.pinCheck = .notPinned(sha256: digest.hexString)
    X509_STORE_CTX_set_error(storeCtx, X509_V_ERR_CERT_REJECTED)
    return 0
}

/// `SSL_CTX_set_cert_verify_callback`: captures nothing; the context arrives as `arg`,
/// the connection through the SSL's ex_data.
private func chainVerifyCallback(_ storeCtx: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let storeCtx, let arg, let connection = TLSConnection.owning(storeCtx) else { return 0 }
    let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
    return context.verify(storeCtx, connection: connection)
}

/// ALPN: HTTP/1.1 only. A client that offers ALPN without it gets no_application_protocol.
private func alpnSelect(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                        _ outLength: UnsafeMutablePointer<UInt8>?, _ input: UnsafePointer<UInt8>?,
                        _ inputLength: UInt32, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let input, let out, let outLength else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let wanted: [UInt8] = Array("http/1.1".utf8)
    var offset = 0
    let total = Int(inputLength)
    while offset < total {
        let length = Int(input[offset])
        let start = offset + 1
        guard start + length <= total else { break }
        if length == wanted.count, (0..<length).allSatisfy({ input[start + $0] == wanted[$0] }) {
            out.pointee = input + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        offset = start + length
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL
}
