import COpenSSL
import COpenSSLShims
import Glibc

/// An https URL split the way the login needs it.
struct LoginURL {
    var host: String
    var port: UInt16
    var path: String

    init(_ text: String) throws(LoginError) {
        guard text.hasPrefix("https://") else { throw LoginError("the gateway URL must start with https://") }
        let rest = text.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/whoami" : String(rest[slash...])
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? UInt16(after.dropFirst()) ?? 0 : 443
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = UInt16(authority[authority.index(after: colon)...]) ?? 0
        } else {
            host = String(authority)
            port = 443
        }
        guard !host.isEmpty, port != 0 else { throw LoginError("cannot read host and port from \(text)") }
    }

    var hostHeader: String { (host.contains(":") ? "[\(host)]" : host) + (port == 443 ? "" : ":\(port)") }
}

struct HTTPResult {
    var status: Int
    var body: [UInt8]
    var tlsVersion: String
    var cipher: String
}

enum TLSVersionChoice: String {
    case auto, tls12 = "1.2", tls13 = "1.3"
}

/// One HTTPS GET with the card as the client key. Owns its SSL_CTX, SSL and socket for the
/// duration of `get` only.
enum TLSLogin {
    /// Signature algorithms for OUR CertificateVerify (client_sigalgs: the server's signature
    /// may use anything), PKCS#1 v1.5 first. With SSL_OP_CIPHER_SERVER_PREFERENCE set,
    /// OpenSSL picks the shared algorithm in our order (tls1_set_shared_sigalgs), so TLS
    /// 1.2 signs PKCS#1 v1.5 (what every CNS middleware does); TLS 1.3 forbids PKCS#1 v1.5
    /// in CertificateVerify (RFC 8446 section 4.2.3) and falls through to RSA-PSS.
    static let signatureAlgorithms = "RSA+SHA256:RSA+SHA384:RSA+SHA512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512"

    static func get(_ url: LoginURL, caFile: String?, version: TLSVersionChoice,
                    certificate: X509Certificate, key: CardRSAKey) throws(LoginError) -> HTTPResult {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw LoginError.openSSL("SSL_CTX_new") }
        defer { SSL_CTX_free(ctx) }
        let minimum = version == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        let maximum = version == .tls12 ? TLS1_2_VERSION : TLS1_3_VERSION
        guard CNSSSL_SSL_CTX_set_min_proto_version(ctx, minimum) == 1,
              CNSSSL_SSL_CTX_set_max_proto_version(ctx, maximum) == 1,
              CNSCard_SSL_CTX_set1_client_sigalgs_list(ctx, signatureAlgorithms) == 1 else {
            throw LoginError.openSSL("cannot configure TLS")
        }
        SSL_CTX_set_options(ctx, CNSSSL_OP_CIPHER_SERVER_PREFERENCE | CNSSSL_OP_NO_TICKET)
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                throw LoginError.openSSL("cannot load the CA file \(caFile)")
            }
        } else {
            SSL_CTX_set_default_verify_paths(ctx)
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)

        guard SSL_CTX_use_certificate(ctx, certificate.x509) == 1, SSL_CTX_use_PrivateKey(ctx, key.pkey) == 1 else {
            throw LoginError.openSSL("the card's certificate and key do not go together")
        }

        let fd = try connect(url.host, url.port)
        defer { close(fd) }
        guard let ssl = SSL_new(ctx) else { throw LoginError.openSSL("SSL_new") }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, fd)
        if isIPAddress(url.host) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host)
        } else {
            CNSCard_SSL_set_tlsext_host_name(ssl, url.host)
            SSL_set1_host(ssl, url.host)
        }
        guard SSL_connect(ssl) == 1 else {
            if let cardError = key.signer.lastError { throw LoginError("the card could not sign the handshake: \(cardError.reason)") }
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                throw LoginError("the gateway's certificate is not trusted: \(String(cString: X509_verify_cert_error_string(verify)))")
            }
            throw LoginError.openSSL("TLS handshake with \(url.host):\(url.port) failed")
        }
        let request = "GET \(url.path) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUser-Agent: cns-card\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        guard SSL_write(ssl, bytes, Int32(bytes.count)) == Int32(bytes.count) else {
            throw LoginError.openSSL("cannot send the request")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = SSL_read(ssl, &buffer, Int32(buffer.count))
            if n > 0 {
                response += buffer.prefix(Int(n))
                if response.count > 4 << 20 { throw LoginError("the gateway's answer is too large") }
                continue
            }
            let reason = SSL_get_error(ssl, n)
            // A server that closes without close_notify still ended an HTTP/1.1 "close" response.
            if reason == SSL_ERROR_ZERO_RETURN || reason == SSL_ERROR_SYSCALL { break }
            throw LoginError.openSSL("reading the answer failed")
        }
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "?"
        var result = try parseHTTP(response)
        result.tlsVersion = version
        result.cipher = cipher
        return result
    }

    static func parseHTTP(_ bytes: [UInt8]) throws(LoginError) -> HTTPResult {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0...max(0, bytes.count - 4)).first(where: { Array(bytes[$0..<min($0 + 4, bytes.count)]) == separator }) else {
            throw LoginError("the gateway's answer is not HTTP")
        }
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw LoginError("the gateway's answer has no status line")
        }
        var body = Array(bytes[(headEnd + 4)...])
        let headers = head.dropFirst().map { $0.lowercased() }
        if headers.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
            body = try dechunk(body)
        } else if let length = headers.first(where: { $0.hasPrefix("content-length:") })
                    .flatMap({ Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }),
                  length <= body.count {
            body = Array(body.prefix(length))
        }
        return HTTPResult(status: status, body: body, tlsVersion: "", cipher: "")
    }

    static func dechunk(_ bytes: [UInt8]) throws(LoginError) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<(bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw LoginError("bad chunk in the gateway's answer")
            }
            if size == 0 { break }
            let start = lineEnd + 2
            guard start + size <= bytes.count else { throw LoginError("truncated chunk in the gateway's answer") }
            output += bytes[start..<(start + size)]
            index = start + size + 2
        }
        return output
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func connect(_ host: String, _ port: UInt16) throws(LoginError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw LoginError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var lastError: Int32 = 0
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd >= 0 {
                var rc: Int32
                repeat { rc = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) } while rc < 0 && errno == EINTR
                if rc == 0 { return fd }
                lastError = errno
                close(fd)
            } else {
                lastError = errno
            }
            cursor = info.pointee.ai_next
        }
        throw LoginError("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }
}
