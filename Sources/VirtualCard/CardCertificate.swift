internal import COpenSSL
import Glibc

/// The certificate the virtual card carries: the owner of one `X509`, freed in `deinit`.
public final class CardCertificate {
    let x509: OpaquePointer
    /// The DER encoding, exactly what EF 3F00/1100/1101 holds.
    public let der: [UInt8]

    /// PEM or DER.
    public init(contentsOf bytes: [UInt8]) throws(VirtualCardError) {
        var loaded: OpaquePointer?
        bytes.withUnsafeBytes { raw in
            if let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) {
                loaded = PEM_read_bio_X509(bio, nil, nil, nil)
                BIO_free(bio)
            }
            if loaded == nil {
                ERR_clear_error()
                var cursor = raw.bindMemory(to: UInt8.self).baseAddress
                loaded = d2i_X509(nil, &cursor, raw.count)
            }
        }
        guard let loaded else { throw VirtualCardError.openSSL(.certificate, "cannot read the certificate") }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(loaded, &out)
        guard length > 0, let out else {
            X509_free(loaded)
            throw VirtualCardError.openSSL(.certificate, "cannot encode the certificate")
        }
        der = Array(UnsafeBufferPointer(start: out, count: Int(length)))
        CRYPTO_free(out, #fileID, #line)
        x509 = loaded
    }

    deinit { X509_free(x509) }

    public func matches(_ key: CardKey) -> Bool {
        let result = X509_check_private_key(x509, key.pkey) == 1
        ERR_clear_error()
        return result
    }

    public var commonName: String? { subjectValue(NID_commonName) }
    public var givenName: String? { subjectValue(NID_givenName) }
    public var surname: String? { subjectValue(NID_surname) }

    /// notBefore / notAfter as DDMMYYYY, the date format of EF_DatiPersonali.
    public var notBefore: String? { Self.ddmmyyyy(X509_get0_notBefore(x509)) }
    public var notAfter: String? { Self.ddmmyyyy(X509_get0_notAfter(x509)) }

    func subjectValue(_ nid: Int32) -> String? {
        guard let name = X509_get_subject_name(x509) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    static func ddmmyyyy(_ time: UnsafePointer<ASN1_TIME>?) -> String? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        let two = { (value: Int32) in value < 10 ? "0\(value)" : "\(value)" }
        return two(parts.tm_mday) + two(parts.tm_mon + 1) + String(parts.tm_year + 1900)
    }
}
