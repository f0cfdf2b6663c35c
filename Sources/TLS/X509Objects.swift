import COpenSSL
import COpenSSLShims
import FoundationEssentials

/// Owns one `X509*`.
final class X509Certificate {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    init?(der: [UInt8]) {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        pointer = parsed
    }

    deinit { X509_free(pointer) }

    var sha256: [UInt8] { X509Inspector.sha256(pointer) }
}

/// Owns one `X509_CRL*`.
final class X509RevocationList {
    let pointer: OpaquePointer

    init?(der: [UInt8]) {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509_CRL(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        pointer = parsed
    }

    deinit { X509_CRL_free(pointer) }

    var nextUpdate: Date? { X509Inspector.date(X509_CRL_get0_nextUpdate(pointer)) }
    var lastUpdate: Date? { X509Inspector.date(X509_CRL_get0_lastUpdate(pointer)) }
    var entryCount: Int {
        guard let revoked = X509_CRL_get_REVOKED(pointer) else { return 0 }
        return Int(CNSSSL_sk_X509_REVOKED_num(revoked))
    }
}

/// Read-only helpers over borrowed `X509*` pointers.
enum X509Inspector {
    static func sha256(_ cert: OpaquePointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        X509_digest(cert, EVP_sha256(), &digest, &length)
        return Array(digest.prefix(Int(length)))
    }

    static func der(_ cert: OpaquePointer) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(cert, &out)
        guard length > 0, let out else { return [] }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, name, 0, CNSSSL_NAME_FLAGS)
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = CNSSSL_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self)
        }
    }

    static func serialHex(_ cert: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(cert), let bn = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CNSSSL_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }

    /// Security bits of the certificate's public key (RSA-1024 = 80, RSA-2048 = 112).
    static func keySecurityBits(_ cert: OpaquePointer) -> Int32 {
        guard let key = X509_get0_pubkey(cert) else { return 0 }
        return EVP_PKEY_get_security_bits(key)
    }

    /// Security bits of the signature on the certificate (SHA-1 = 63, SHA-256 = 128).
    static func signatureSecurityBits(_ cert: OpaquePointer) -> Int32 {
        var mdnid: Int32 = 0, pknid: Int32 = 0, secbits: Int32 = 0
        var flags: UInt32 = 0
        guard X509_get_signature_info(cert, &mdnid, &pknid, &secbits, &flags) == 1 else { return 0 }
        return secbits
    }

    /// True when the CRL carries an authority key identifier and none of `cas` has that
    /// subject key identifier. False without an AKI: then only a signature check can tell.
    static func crlNamesAnotherKey(_ crl: OpaquePointer, than cas: [OpaquePointer]) -> Bool {
        guard let raw = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, nil, nil) else {
            OpenSSLErrorQueue.clear()
            return false
        }
        let aki = raw.assumingMemoryBound(to: AUTHORITY_KEYID.self)
        defer { AUTHORITY_KEYID_free(aki) }
        guard let keyID = aki.pointee.keyid else { return false }
        return !cas.contains { ca in
            guard let ski = X509_get0_subject_key_id(ca) else { return false }
            return ASN1_OCTET_STRING_cmp(keyID, ski) == 0
        }
    }

    static func isSelfSigned(_ cert: OpaquePointer) -> Bool {
        X509_check_issued(cert, cert) == X509_V_OK
    }
}

extension Array where Element == UInt8 {
    var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
