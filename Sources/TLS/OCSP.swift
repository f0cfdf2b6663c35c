import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// What to ask a responder about one card certificate (RFC 6960): built on the loop thread
/// from the verified chain (cheap: two hashes), asked on the blocking pool. Values only, so it
/// crosses threads; the response is checked against `issuerDER`.
public struct OCSPQuestion: Sendable, Equatable {
    /// The DER CertID (SHA-1 of the issuer's name and key, the serial number): what the answer
    /// must name, and the key of the answer cache.
    public let certID: [UInt8]
    /// A DER OCSPRequest for that one CertID, unsigned and without a nonce (so responders may
    /// answer from their pre-signed responses and we may cache the answer).
    public let requestDER: [UInt8]
    /// The OCSP locations of the certificate's Authority Information Access, in order (only
    /// http://; the certificate's signature has been checked, so they are the CA's choice).
    public let responders: [String]
    public let issuerDER: [UInt8]
    /// Lowercase hex SHA-256 of the issuing CA's certificate (what a per-CA override names).
    public let issuerSHA256: String
    public let issuerSubject: String
    public let serialHex: String
    /// The card certificate's notAfter: no answer about it is kept past it.
    public let notAfter: Date?

    /// The request as a GET path segment (RFC 6960 appendix A.1: base64, then URL-escaped),
    /// nil when the request is too long for a GET (over 255 bytes of base64).
    public var getPathSegment: String? {
        let base64 = Data(requestDER).base64EncodedString()
        guard base64.utf8.count <= 255 else { return nil }
        var escaped = ""
        for byte in base64.utf8 {
            switch byte {
            case UInt8(ascii: "+"): escaped += "%2B"
            case UInt8(ascii: "/"): escaped += "%2F"
            case UInt8(ascii: "="): escaped += "%3D"
            default: escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return escaped
    }
}

/// A responder's answer about one certificate, after every check passed.
public struct OCSPAnswer: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case good
        /// With the CRLReason code when the responder gave one (-1 when not).
        case revoked(reason: Int32, at: Date?)
        case unknown
    }
    public var status: Status
    public var thisUpdate: Date
    /// Absent when the responder always has newer information (RFC 6960 4.2.2.1).
    public var nextUpdate: Date?

    public init(status: Status, thisUpdate: Date, nextUpdate: Date?) {
        self.status = status
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
    }

    /// The label a metric or a log line carries.
    public var statusName: String {
        switch status {
        case .good: "good"
        case .revoked: "revoked"
        case .unknown: "unknown"
        }
    }
}

/// Why a responder's bytes are not an answer we can use.
public struct OCSPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Not a DER OCSPResponse.
        case malformed
        /// The responder said malformedRequest, internalError, tryLater, sigRequired or unauthorized.
        case responderStatus = "responder_status"
        /// Not signed by the issuing CA, nor by a responder certificate that CA issued for
        /// OCSP signing (id-kp-OCSPSigning), or the signature does not verify.
        case signature
        /// The response says nothing about the certificate asked about (another serial, another CA).
        case wrongCertificate = "wrong_certificate"
        /// Past its nextUpdate (or, without one, older than allowed), or dated in the future.
        case stale
    }
    public var code: Code
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
    public static func == (lhs: OCSPError, rhs: OCSPError) -> Bool { lhs.code == rhs.code }
}

extension TrustStore {
    /// The OCSP question about `leafDER`, whose issuer is found among the certificates the
    /// client sent and the bundle's CAs (the one whose name matches and whose key verifies the
    /// leaf: same-name CAs with different keys are told apart). Nil when no issuer is found or
    /// the question cannot be built.
    public func ocspQuestion(leafDER: [UInt8], intermediatesDER: [[UInt8]] = []) -> OCSPQuestion? {
        guard let leaf = X509Certificate(der: leafDER) else { return nil }
        let sent = intermediatesDER.compactMap { X509Certificate(der: $0) }
        let issuer = (sent + certificates).first { candidate in
            guard X509_check_issued(candidate.pointer, leaf.pointer) == X509_V_OK,
                  let key = X509_get0_pubkey(candidate.pointer) else { return false }
            return X509_verify(leaf.pointer, key) == 1
        }
        OpenSSLErrorQueue.clear()
        guard let issuer else { return nil }
        return OCSPQuestion.make(leaf: leaf, issuer: issuer)
    }
}

extension OCSPQuestion {
    static func make(leaf: X509Certificate, issuer: X509Certificate) -> OCSPQuestion? {
        guard let id = OCSP_cert_to_id(nil, leaf.pointer, issuer.pointer) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        let certID = OCSPDER.encode(id) { i2d_OCSP_CERTID($0, $1) }
        guard let request = OCSP_REQUEST_new() else {
            OCSP_CERTID_free(id)
            return nil
        }
        defer { OCSP_REQUEST_free(request) }
        // The request takes the CertID.
        guard OCSP_request_add0_id(request, id) != nil else {
            OCSP_CERTID_free(id)
            OpenSSLErrorQueue.clear()
            return nil
        }
        let requestDER = OCSPDER.encode(request) { i2d_OCSP_REQUEST($0, $1) }
        guard !certID.isEmpty, !requestDER.isEmpty else { return nil }
        var responders: [String] = []
        if let urls = X509_get1_ocsp(leaf.pointer) {
            for i in 0..<CNSSSL_sk_OPENSSL_STRING_num(urls) {
                guard let url = CNSSSL_sk_OPENSSL_STRING_value(urls, i) else { continue }
                let text = String(cString: url)
                if text.lowercased().hasPrefix("http://") { responders.append(text) }
            }
            X509_email_free(urls)
        }
        return OCSPQuestion(certID: certID, requestDER: requestDER, responders: responders, issuerDER: issuer.der,
                            issuerSHA256: issuer.sha256.hexString, issuerSubject: issuer.subject,
                            serialHex: leaf.serialHex, notAfter: leaf.notAfter)
    }

    /// Checks a responder's DER response against this question: a successful response,
    /// signed by the issuing CA or by a delegated responder it issued (with id-kp-OCSPSigning,
    /// valid now), naming this CertID, and current (thisUpdate not after now + `skew`,
    /// nextUpdate not before now - `skew`; without a nextUpdate, thisUpdate no older than
    /// `maxAgeWithoutNextUpdate`).
    public func check(responseDER: [UInt8], now: Date = Date(), skew: Double = 300,
                      maxAgeWithoutNextUpdate: Double = 3600) throws(OCSPError) -> OCSPAnswer {
        defer { OpenSSLErrorQueue.clear() }
        let parsed: OpaquePointer? = responseDER.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &cursor, buffer.count)
        }
        guard let response = parsed else { throw OCSPError(.malformed, "not a DER OCSPResponse (\(responseDER.count) bytes)") }
        defer { OCSP_RESPONSE_free(response) }
        let status = OCSP_response_status(response)
        guard status == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            throw OCSPError(.responderStatus, "responder said \(String(cString: OCSP_response_status_str(Int(status))))")
        }
        guard let basic = OCSP_response_get1_basic(response) else {
            throw OCSPError(.malformed, "a successful response without a basic response")
        }
        defer { OCSP_BASICRESP_free(basic) }
        guard let issuer = X509Certificate(der: issuerDER), let store = X509_STORE_new(),
              let untrusted = CNSSSL_sk_X509_new_null() else {
            throw OCSPError(.malformed, "out of memory checking the response")
        }
        defer {
            X509_STORE_free(store)
            CNSSSL_sk_X509_free(untrusted)
        }
        // The only trust anchor is the CA that issued the card: the response is signed by it,
        // or by a certificate it issued (OpenSSL then requires id-kp-OCSPSigning). Nothing
        // else of the bundle may vouch for a responder, and no explicit trust settings count.
        _ = X509_STORE_add_cert(store, issuer.pointer)
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        _ = CNSSSL_sk_X509_push(untrusted, issuer.pointer)
        let verified = withExtendedLifetime(issuer) {
            OCSP_basic_verify(basic, untrusted, store, UInt(OCSP_NOEXPLICIT))
        }
        guard verified == 1 else {
            throw OCSPError(.signature, "not signed by \(issuerSubject) or a responder it authorised: \(OpenSSLErrorQueue.drain())")
        }

        let id: OpaquePointer? = certID.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_OCSP_CERTID(nil, &cursor, buffer.count)
        }
        guard let id else { throw OCSPError(.malformed, "the question's CertID does not parse") }
        defer { OCSP_CERTID_free(id) }
        var certStatus: Int32 = -1
        var reason: Int32 = -1
        var revokedAt: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        guard OCSP_resp_find_status(basic, id, &certStatus, &reason, &revokedAt, &thisUpdate, &nextUpdate) == 1 else {
            throw OCSPError(.wrongCertificate, "the response does not name serial \(serialHex) of \(issuerSubject)")
        }
        guard let thisUpdate, let thisDate = X509Inspector.date(thisUpdate) else {
            throw OCSPError(.malformed, "the response has no readable thisUpdate")
        }
        let nextDate = nextUpdate.flatMap { X509Inspector.date($0) }
        if thisDate.timeIntervalSince(now) > skew {
            throw OCSPError(.stale, "thisUpdate \(thisDate) is in the future")
        }
        if let nextDate {
            if now.timeIntervalSince(nextDate) > skew { throw OCSPError(.stale, "past its nextUpdate \(nextDate)") }
        } else if now.timeIntervalSince(thisDate) > maxAgeWithoutNextUpdate + skew {
            throw OCSPError(.stale, "no nextUpdate and thisUpdate \(thisDate) is too old")
        }
        let answer: OCSPAnswer.Status
        switch certStatus {
        case V_OCSP_CERTSTATUS_GOOD: answer = .good
        case V_OCSP_CERTSTATUS_REVOKED: answer = .revoked(reason: reason, at: revokedAt.flatMap { X509Inspector.date($0) })
        default: answer = .unknown
        }
        return OCSPAnswer(status: answer, thisUpdate: thisDate, nextUpdate: nextDate)
    }
}

/// i2d_* into a Swift array.
enum OCSPDER {
    static func encode(_ object: OpaquePointer, _ i2d: (OpaquePointer, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8] {
        let length = i2d(object, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d(object, &cursor)
        }
        return written == length ? bytes : []
    }
}
