import HTTP1
import Outbound
import Posix
import TLS

/// A login failure other than a card error (the URL, the card's certificate, the network, TLS).
struct LoginError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        case url
        /// The card's certificate or key cannot be used for TLS.
        case certificate
        /// The card refused to sign inside the handshake.
        case card
        /// Connecting, TLS (an untrusted gateway) or the HTTP exchange.
        case fetch
    }
    var code: Code
    var reason: String
    var file: String
    var line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    var description: String { reason }
    static func == (lhs: LoginError, rhs: LoginError) -> Bool { lhs.code == rhs.code }
}

enum TLSVersionChoice: String {
    case auto, tls12 = "1.2", tls13 = "1.3"
}

/// One HTTPS GET to the gateway with the card as the client key, through the outbound stack.
enum TLSLogin {
    /// Signature algorithms for OUR CertificateVerify, PKCS#1 v1.5 first: OpenSSL picks the
    /// shared algorithm in our order, so TLS 1.2 signs PKCS#1 v1.5 (what every CNS
    /// middleware does); TLS 1.3 forbids PKCS#1 v1.5 in CertificateVerify (RFC 8446 section
    /// 4.2.3) and falls through to RSA-PSS.
    static let signatureAlgorithms = "RSA+SHA256:RSA+SHA384:RSA+SHA512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512"
    static let timeoutSeconds = 60.0
    static let maxBody = 4 << 20

    /// The gateway URL: https only; no path means `/whoami`.
    static func url(_ text: String) throws(LoginError) -> FetchURL {
        guard text.lowercased().hasPrefix("https://") else { throw LoginError(.url, "the gateway URL must start with https://") }
        do {
            var url = try FetchURL(text)
            if url.target == "/" && !text.dropFirst("https://".count).contains("/") { url.target = "/whoami" }
            return url
        } catch {
            throw LoginError(.url, "cannot use \(text): \(error.reason)")
        }
    }

    static func get(_ url: FetchURL, caFile: String?, version: TLSVersionChoice, identity: TLSClientIdentity,
                    signer: CardSigner) throws(LoginError) -> FetchResponse {
        let tls = TLSClientConfiguration(
            trust: caFile.map { .caFile($0) } ?? .system,
            minimumVersion: version == .tls13 ? .tls13 : .tls12, maximumVersion: version == .tls12 ? .tls12 : .tls13,
            identity: identity, clientSignatureAlgorithms: signatureAlgorithms)
        let request = FetchRequest(url: url, headers: [HTTPHeader(name: "Accept", value: "application/json")])
        // The PIN prompt is over; the card may take seconds per signature on a slow reader.
        let options = FetchOptions(deadline: Deadline(after: timeoutSeconds), maxBodyBytes: maxBody, expectedStatus: nil,
                                   tls: tls, userAgent: "cns-card")
        do {
            return try Fetcher.fetch(request, options: options)
        } catch {
            if let cardError = signer.lastError { throw LoginError(.card, "the card could not sign the handshake: \(cardError.reason)") }
            if error.code == .certificate { throw LoginError(.fetch, "the gateway's certificate is not trusted: \(error.reason)") }
            throw LoginError(.fetch, error.reason)
        }
    }
}
