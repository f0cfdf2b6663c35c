import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// A PKI made per test run (never checked in to expire): keys, CA and leaf certificates,
/// CRLs, written as PEM/DER files into a temporary directory. For tests only; it traps on
/// OpenSSL failures, which in a test are bugs in the test.
public final class TestKey: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is created in init and only read afterwards.
    let pkey: OpaquePointer

    init(pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public static func rsa(bits: Int = 2048) -> TestKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { fatalError("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1,
              EVP_PKEY_generate(ctx, &key) == 1, let key else { fatalError("RSA key generation") }
        return TestKey(pkey: key)
    }

    public static func ecP256() -> TestKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { fatalError("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1,
              EVP_PKEY_generate(ctx, &key) == 1, let key else { fatalError("EC key generation") }
        return TestKey(pkey: key)
    }

    /// PKCS#8 PEM.
    public var pem: String {
        guard let bio = BIO_new(BIO_s_mem()) else { fatalError("BIO_new") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else { fatalError("PEM_write_bio_PrivateKey") }
        return TestPKI.memoryText(bio)
    }
}

public final class TestCertificate: @unchecked Sendable {
    // @unchecked: the X509 is built in init and only read afterwards.
    let x509: OpaquePointer
    public let key: TestKey

    init(x509: OpaquePointer, key: TestKey) {
        self.x509 = x509
        self.key = key
    }

    deinit { X509_free(x509) }

    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(x509, &out)
        guard length > 0, let out else { fatalError("i2d_X509") }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    public var pem: String {
        guard let bio = BIO_new(BIO_s_mem()) else { fatalError("BIO_new") }
        defer { BIO_free(bio) }
        PEM_write_bio_X509(bio, x509)
        return TestPKI.memoryText(bio)
    }

    public var sha256Hex: String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        X509_digest(x509, EVP_sha256(), &digest, &length)
        return digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// What a certificate says about itself.
public struct CertificateSpec: Sendable {
    /// (attribute short name, value) in order, e.g. [("C", "IT"), ("O", "Test"), ("CN", "Root")].
    public var subject: [(String, String)]
    public var serial: UInt64
    public var notBefore: Date
    public var notAfter: Date
    public var isCA: Bool
    /// `X509V3_EXT_nconf` values by extension short name, e.g. ["keyUsage": "critical,digitalSignature"].
    public var extensions: [(String, String)]
    /// "SHA256", "SHA1", ...
    public var digest: String

    public init(subject: [(String, String)], serial: UInt64 = UInt64.random(in: 1...UInt64(Int64.max)),
                notBefore: Date = Date(timeIntervalSinceNow: -86_400), notAfter: Date = Date(timeIntervalSinceNow: 365 * 86_400),
                isCA: Bool = false, extensions: [(String, String)] = [], digest: String = "SHA256") {
        self.subject = subject
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.isCA = isCA
        self.extensions = extensions
        self.digest = digest
    }
}

public enum TestPKI {
    /// A certificate for `key`, signed by `issuer` (self-signed when nil).
    public static func certificate(_ spec: CertificateSpec, key: TestKey, issuer: TestCertificate? = nil) -> TestCertificate {
        guard let x509 = X509_new() else { fatalError("X509_new") }
        X509_set_version(x509, 2)
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), spec.serial)
        ASN1_TIME_set(X509_getm_notBefore(x509), time_t(spec.notBefore.timeIntervalSince1970))
        ASN1_TIME_set(X509_getm_notAfter(x509), time_t(spec.notAfter.timeIntervalSince1970))
        let name = X509_get_subject_name(x509)
        for (field, value) in spec.subject {
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                fatalError("subject field \(field)")
            }
        }
        X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.x509) } ?? name)
        X509_set_pubkey(x509, key.pkey)
        var extensions = spec.extensions
        if spec.isCA {
            if !extensions.contains(where: { $0.0 == "basicConstraints" }) { extensions.append(("basicConstraints", "critical,CA:TRUE")) }
            if !extensions.contains(where: { $0.0 == "keyUsage" }) { extensions.append(("keyUsage", "critical,keyCertSign,cRLSign")) }
        }
        if !extensions.contains(where: { $0.0 == "subjectKeyIdentifier" }) { extensions.append(("subjectKeyIdentifier", "hash")) }
        if !extensions.contains(where: { $0.0 == "authorityKeyIdentifier" }) { extensions.append(("authorityKeyIdentifier", "keyid")) }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.x509 ?? x509, x509, nil, nil, 0)
        // Some extensions (certificatePolicies) want a configuration database, even an empty one.
        let database = NCONF_new(nil)
        defer { NCONF_free(database) }
        X509V3_set_nconf(&context, database)
        for (field, value) in extensions where !value.isEmpty {
            guard let ext = X509V3_EXT_nconf(database, &context, field, value) else { fatalError("extension \(field)=\(value)") }
            X509_add_ext(x509, ext, -1)
            X509_EXTENSION_free(ext)
        }
        let signer = issuer?.key ?? key
        guard X509_sign(x509, signer.pkey, digest(spec.digest)) > 0 else { fatalError("X509_sign") }
        return TestCertificate(x509: x509, key: key)
    }

    /// A CA certificate with a new RSA key.
    public static func ca(_ commonName: String, keyBits: Int = 2048, issuer: TestCertificate? = nil,
                          extra: [(String, String)] = [], notBefore: Date = Date(timeIntervalSinceNow: -86_400),
                          notAfter: Date = Date(timeIntervalSinceNow: 10 * 365 * 86_400), key: TestKey? = nil) -> TestCertificate {
        certificate(CertificateSpec(subject: [("C", "IT"), ("O", "Test PKI"), ("CN", commonName)], notBefore: notBefore,
                                    notAfter: notAfter, isCA: true, extensions: extra),
                    key: key ?? .rsa(bits: keyBits), issuer: issuer)
    }

    /// A TLS client (card-shaped) certificate.
    public static func client(_ commonName: String, issuer: TestCertificate, key: TestKey, serial: UInt64 = UInt64.random(in: 1...UInt64(Int64.max)),
                              notBefore: Date = Date(timeIntervalSinceNow: -86_400), notAfter: Date = Date(timeIntervalSinceNow: 365 * 86_400),
                              digest: String = "SHA256", extra: [(String, String)] = []) -> TestCertificate {
        var extensions = [("keyUsage", "critical,digitalSignature"), ("extendedKeyUsage", "clientAuth")]
        extensions.append(contentsOf: extra)
        return certificate(CertificateSpec(subject: [("C", "IT"), ("CN", commonName)], serial: serial, notBefore: notBefore,
                                           notAfter: notAfter, extensions: extensions, digest: digest), key: key, issuer: issuer)
    }

    /// A TLS server certificate for `names` (DNS names or IP addresses).
    public static func server(_ names: [String], issuer: TestCertificate, key: TestKey) -> TestCertificate {
        let alt = names.map { $0.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        return certificate(CertificateSpec(subject: [("CN", names.first ?? "server")],
                                           extensions: [("keyUsage", "critical,digitalSignature,keyEncipherment"),
                                                        ("extendedKeyUsage", "serverAuth"), ("subjectAltName", alt)]),
                           key: key, issuer: issuer)
    }

    /// A DER CRL by `issuer` listing `revoked` serials.
    public static func crl(issuer: TestCertificate, revoked: [UInt64], lastUpdate: Date = Date(timeIntervalSinceNow: -3600),
                           nextUpdate: Date? = Date(timeIntervalSinceNow: 7 * 86_400), crlNumber: Int = 1,
                           authorityKeyIdentifier: Bool = true, signer: TestKey? = nil, sortedEntries: Bool = true) -> [UInt8] {
        guard let crl = X509_CRL_new() else { fatalError("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        X509_CRL_set_version(crl, 1)
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.x509))
        let last = ASN1_TIME_set(nil, time_t(lastUpdate.timeIntervalSince1970))
        X509_CRL_set1_lastUpdate(crl, last)
        ASN1_TIME_free(last)
        if let nextUpdate {
            let next = ASN1_TIME_set(nil, time_t(nextUpdate.timeIntervalSince1970))
            X509_CRL_set1_nextUpdate(crl, next)
            ASN1_TIME_free(next)
        }
        for serial in revoked {
            guard let entry = X509_REVOKED_new() else { fatalError("X509_REVOKED_new") }
            let number = ASN1_INTEGER_new()
            ASN1_INTEGER_set_uint64(number, serial)
            X509_REVOKED_set_serialNumber(entry, number)
            ASN1_INTEGER_free(number)
            let when = ASN1_TIME_set(nil, time_t(lastUpdate.timeIntervalSince1970) - 60)
            X509_REVOKED_set_revocationDate(entry, when)
            ASN1_TIME_free(when)
            X509_CRL_add0_revoked(crl, entry)
        }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.x509, nil, nil, crl, 0)
        let number = ASN1_INTEGER_new()
        ASN1_INTEGER_set(number, crlNumber)
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(number), 0, 0)
        ASN1_INTEGER_free(number)
        let extensions = authorityKeyIdentifier ? [("authorityKeyIdentifier", "keyid")] : []
        for (field, value) in extensions {
            guard let ext = X509V3_EXT_nconf(nil, &context, field, value) else { fatalError("CRL extension \(field)") }
            X509_CRL_add_ext(crl, ext, -1)
            X509_EXTENSION_free(ext)
        }
        // Some issuers do not list their entries in serial order; `sortedEntries: false` keeps
        // the order of `revoked`.
        if sortedEntries { X509_CRL_sort(crl) }
        guard X509_CRL_sign(crl, (signer ?? issuer.key).pkey, EVP_sha256()) > 0 else { fatalError("X509_CRL_sign") }
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509_CRL(crl, &out)
        guard length > 0, let out else { fatalError("i2d_X509_CRL") }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// What an OCSP response says about a certificate.
    public enum OCSPStatus: Sendable {
        case good
        case revoked
        case unknown
    }

    /// A DER OCSPResponse (successful, one SingleResponse) about `leaf` of `issuer`, signed
    /// by `signer` (the issuer itself, a delegated responder, or any certificate for the
    /// negative cases) and carrying the signer's certificate. `serial` names another
    /// certificate than `leaf`'s.
    public static func ocspResponse(leaf: TestCertificate, issuer: TestCertificate, status: OCSPStatus,
                                    signer: TestCertificate, serial: UInt64? = nil,
                                    thisUpdate: Date = Date(timeIntervalSinceNow: -60),
                                    nextUpdate: Date? = Date(timeIntervalSinceNow: 3600)) -> [UInt8] {
        guard let basic = OCSP_BASICRESP_new() else { fatalError("OCSP_BASICRESP_new") }
        defer { OCSP_BASICRESP_free(basic) }
        let id: OpaquePointer?
        if let serial {
            let number = ASN1_INTEGER_new()
            defer { ASN1_INTEGER_free(number) }
            ASN1_INTEGER_set_uint64(number, serial)
            id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer.x509), X509_get0_pubkey_bitstr(issuer.x509), number)
        } else {
            id = OCSP_cert_to_id(nil, leaf.x509, issuer.x509)
        }
        guard let id else { fatalError("OCSP CertID") }
        defer { OCSP_CERTID_free(id) }
        let this = ASN1_TIME_set(nil, time_t(thisUpdate.timeIntervalSince1970))
        let next = nextUpdate.map { ASN1_TIME_set(nil, time_t($0.timeIntervalSince1970)) } ?? nil
        let revokedAt = ASN1_TIME_set(nil, time_t(thisUpdate.timeIntervalSince1970) - 3600)
        defer {
            ASN1_TIME_free(this)
            if let next { ASN1_TIME_free(next) }
            ASN1_TIME_free(revokedAt)
        }
        let code: Int32 = switch status {
        case .good: V_OCSP_CERTSTATUS_GOOD
        case .revoked: V_OCSP_CERTSTATUS_REVOKED
        case .unknown: V_OCSP_CERTSTATUS_UNKNOWN
        }
        guard OCSP_basic_add1_status(basic, id, code, status == .revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                                     status == .revoked ? revokedAt : nil, this, next) != nil else {
            fatalError("OCSP_basic_add1_status")
        }
        guard OCSP_basic_sign(basic, signer.x509, signer.key.pkey, EVP_sha256(), nil, 0) == 1 else { fatalError("OCSP_basic_sign") }
        guard let response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic) else { fatalError("OCSP_response_create") }
        defer { OCSP_RESPONSE_free(response) }
        return encodeOCSPResponse(response)
    }

    /// A DER OCSPResponse with only an error status (`OCSP_RESPONSE_STATUS_TRYLATER`, ...).
    public static func ocspErrorResponse(status: Int32) -> [UInt8] {
        guard let response = OCSP_response_create(status, nil) else { fatalError("OCSP_response_create") }
        defer { OCSP_RESPONSE_free(response) }
        return encodeOCSPResponse(response)
    }

    private static func encodeOCSPResponse(_ response: OpaquePointer) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_OCSP_RESPONSE(response, &out)
        guard length > 0, let out else { fatalError("i2d_OCSP_RESPONSE") }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// A fresh temporary directory (removed by `TestDirectory.remove`).
    public static func directory(_ prefix: String = "cns-test") -> TestDirectory { TestDirectory(prefix: prefix) }

    static func digest(_ name: String) -> OpaquePointer? {
        switch name {
        case "SHA1": EVP_sha1()
        case "SHA384": EVP_sha384()
        default: EVP_sha256()
        }
    }

    static func memoryText(_ bio: OpaquePointer) -> String {
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = CNSSSL_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self)
        }
    }
}

/// A temporary directory for one test's files.
public final class TestDirectory: @unchecked Sendable {
    // @unchecked: the path never changes; file writes go to distinct names per test.
    public let path: String

    init(prefix: String) {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UInt64.random(in: 0...UInt64.max))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to `name` in the directory; returns the full path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = "\(path)/\(name)"
        let parent = URL(fileURLWithPath: file).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { fatalError("cannot write \(file)") }
        return file
    }

    @discardableResult
    public func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
