import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// The one owner of an `X509*` in the code base: the trust store's CA certificates, a
/// presented chain, `inspect-cert`'s file, the certificate on a card (cns-card, the virtual
/// card). The pointer never leaves the TLS module; other modules read fields through it.
public final class X509Certificate {
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

    /// The first certificate of PEM text, or a DER encoding.
    public convenience init(pemOrDER bytes: [UInt8]) throws(TLSError) {
        let der: [UInt8]
        do {
            der = try PEMFile.derObjects(bytes: bytes, labels: ["CERTIFICATE", "TRUSTED CERTIFICATE"], origin: "certificate").first ?? []
        } catch {
            throw TLSError(.certificate, "the certificate is not valid PEM")
        }
        guard let parsed = X509Certificate(der: der) else { throw TLSError(.certificate, "the certificate does not parse") }
        self.init(taking: X509_dup(parsed.pointer))
    }

    deinit { X509_free(pointer) }

    public var der: [UInt8] { X509Inspector.der(pointer) }
    public var sha256: [UInt8] { X509Inspector.sha256(pointer) }
    public var subject: String { X509Inspector.name(X509_get_subject_name(pointer)) }
    public var issuer: String { X509Inspector.name(X509_get_issuer_name(pointer)) }
    public var serialHex: String { X509Inspector.serialHex(pointer) }
    public var notBefore: Date? { X509Inspector.date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date? { X509Inspector.date(X509_get0_notAfter(pointer)) }

    /// The DER SubjectPublicKeyInfo: compare it with a key's to see that they belong together.
    public var publicKeyInfoDER: [UInt8] {
        guard let key = X509_get0_pubkey(pointer) else { return [] }
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(key, &out)
        guard length > 0, let out else { return [] }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// Bytes in the RSA modulus; nil for another kind of key.
    public var rsaModulusLength: Int? {
        guard let key = X509_get0_pubkey(pointer), EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else { return nil }
        return Int(EVP_PKEY_get_size(key))
    }

    /// Subject attributes a card holder's certificate carries.
    public enum NameAttribute: Sendable {
        case commonName, givenName, surname, serialNumber, organization, organizationalUnit, country

        var nid: Int32 {
            switch self {
            case .commonName: NID_commonName
            case .givenName: NID_givenName
            case .surname: NID_surname
            case .serialNumber: NID_serialNumber
            case .organization: NID_organizationName
            case .organizationalUnit: NID_organizationalUnitName
            case .country: NID_countryName
            }
        }
    }

    /// The first value of `attribute` in the subject, as UTF-8.
    public func subjectAttribute(_ attribute: NameAttribute) -> String? {
        guard let name = X509_get_subject_name(pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, attribute.nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CNSSSL_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }
}

/// One CRL: OpenSSL's `X509_CRL` parsed whole, or (for every CRL the compact parser models,
/// CompactCRLs.h) its signed DER and a sorted table of revoked serials, with an entry-less stub
/// `X509_CRL` standing in for it wherever OpenSSL needs one. Either way `pointer` is what the
/// trust store holds; `verify` checks the real signature.
final class X509RevocationList {
    /// The whole CRL, or a compact CRL's stub.
    let pointer: OpaquePointer
    /// The compact CRL (`CNSCRL_Compact*`), when it is one.
    let compact: OpaquePointer?

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
        self.compact = nil
    }

    /// Takes a compact CRL's reference.
    private init(compact: OpaquePointer) {
        self.compact = compact
        self.pointer = CNSCRL_compact_stub(compact)
    }

    /// One DER CRL: compact when the compact parser models it, else parsed whole by OpenSSL;
    /// nil when it is not a CRL.
    convenience init?(der: [UInt8]) {
        let compact: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var compact: OpaquePointer?
            guard let base = buffer.baseAddress, CNSCRL_compact_parse(base, buffer.count, &compact) == 1 else { return nil }
            return compact
        }
        if let compact {
            self.init(compact: compact)
        } else if let whole = der.withUnsafeBufferPointer({ Self.parseWhole($0.baseAddress, $0.count) }) {
            self.init(taking: whole)
        } else {
            OpenSSLErrorQueue.clear()
            return nil
        }
    }

    /// The same for a DER buffer from OPENSSL_malloc, taken over: kept by the compact CRL, or
    /// freed once OpenSSL has parsed it (the file reader's 27 MB are never copied). On nil,
    /// OpenSSL's reason is left in its error queue for the caller's message.
    static func adopting(_ der: UnsafeMutablePointer<UInt8>, count: Int) -> X509RevocationList? {
        var compact: OpaquePointer?
        if CNSCRL_compact_adopt(der, count, &compact) == 1, let compact { return X509RevocationList(compact: compact) }
        defer { CNSSSL_OPENSSL_free(der) }
        return parseWhole(der, count).map { X509RevocationList(taking: $0) }
    }

    /// d2i_X509_CRL; on failure OpenSSL's reason stays in its error queue.
    private static func parseWhole(_ der: UnsafePointer<UInt8>?, _ count: Int) -> OpaquePointer? {
        guard der != nil else { return nil }
        var cursor = der
        return d2i_X509_CRL(nil, &cursor, count)
    }

    deinit {
        if let compact {
            CNSCRL_compact_free(compact)
        } else {
            X509_CRL_free(pointer)
        }
    }

    var isCompact: Bool { compact != nil }

    var nextUpdate: Date? { X509Inspector.date(X509_CRL_get0_nextUpdate(pointer)) }
    var lastUpdate: Date? { X509Inspector.date(X509_CRL_get0_lastUpdate(pointer)) }
    var entryCount: Int {
        if let compact { return Int(CNSCRL_compact_count(compact)) }
        guard let revoked = X509_CRL_get_REVOKED(pointer) else { return 0 }
        return Int(CNSSSL_sk_X509_REVOKED_num(revoked))
    }

    /// Whether the CRL's signature verifies with `issuer`'s key.
    func verify(with issuer: X509Certificate) -> Bool {
        defer { OpenSSLErrorQueue.clear() }
        guard let key = X509_get0_pubkey(issuer.pointer) else { return false }
        if let compact { return CNSCRL_compact_verify(compact, key) == 1 }
        return X509_CRL_verify(pointer, key) == 1
    }

    /// The CRL's DER as its issuer signed it.
    var der: [UInt8] {
        if let compact {
            var length = 0
            guard let bytes = CNSCRL_compact_der(compact, &length) else { return [] }
            return Array(UnsafeBufferPointer(start: bytes, count: length))
        }
        return X509Inspector.crlDER(pointer)
    }

    /// This CRL parsed whole by OpenSSL (for a CRL no CA of the bundle verified: OpenSSL then
    /// checks its signature, and needs its entries, at each use); itself when it already is.
    func whole() -> X509RevocationList? {
        guard let compact else { return self }
        var length = 0
        let bytes = CNSCRL_compact_der(compact, &length)
        guard let whole = Self.parseWhole(bytes, length) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return X509RevocationList(taking: whole)
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
