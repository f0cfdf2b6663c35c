import COpenSSL
import COpenSSLShims
public import FoundationEssentials

/// One entry of a hand-made CRL (`TestPKI.crl(issuer:entries:)`).
public struct TestCRLEntry: Sendable {
    /// The serial's magnitude, big-endian (leading zero bytes are dropped by the encoder).
    public var serial: [UInt8]
    /// A CRLReason code (8 is removeFromCRL), or none.
    public var reason: Int?
    /// Adds a critical private entry extension.
    public var criticalExtension: Bool
    /// Adds a certificateIssuer entry extension naming this CA (an indirect CRL's entry).
    public var certificateIssuer: TestCertificate?

    public init(serial: [UInt8], reason: Int? = nil, criticalExtension: Bool = false, certificateIssuer: TestCertificate? = nil) {
        self.serial = serial
        self.reason = reason
        self.criticalExtension = criticalExtension
        self.certificateIssuer = certificateIssuer
    }

    public init(_ serial: UInt64, reason: Int? = nil) {
        var bytes: [UInt8] = []
        var value = serial
        repeat {
            bytes.insert(UInt8(value & 0xff), at: 0)
            value >>= 8
        } while value != 0
        self.init(serial: bytes, reason: reason)
    }
}

/// A CRL extension given as its DER value.
public struct TestCRLExtension: Sendable {
    public var oid: String
    public var critical: Bool
    public var value: [UInt8]

    public init(oid: String, critical: Bool, value: [UInt8]) {
        self.oid = oid
        self.critical = critical
        self.value = value
    }

    /// issuingDistributionPoint { onlyContainsUserCerts TRUE }.
    public static let onlyUserCertificates = TestCRLExtension(oid: "2.5.29.28", critical: true, value: [0x30, 0x03, 0x81, 0x01, 0xff])
    /// deltaCRLIndicator, base CRL number 1.
    public static let deltaOfCRL1 = TestCRLExtension(oid: "2.5.29.27", critical: true, value: [0x02, 0x01, 0x01])
    /// A critical extension nobody knows.
    public static let unknownCritical = TestCRLExtension(oid: "1.3.6.1.4.1.99999.7", critical: true, value: [0x05, 0x00])
    /// The same, not critical.
    public static let unknownNonCritical = TestCRLExtension(oid: "1.3.6.1.4.1.99999.7", critical: false, value: [0x05, 0x00])
}

/// How a hand-made CRL is signed.
public enum TestCRLSignature: Sendable {
    /// PKCS#1 v1.5 for RSA keys, ECDSA for EC keys, with this digest ("SHA1", "SHA256", "SHA384").
    case digest(String)
    /// RSASSA-PSS with SHA-256.
    case rsaPSS
}

extension TestKey {
    /// The SubjectPublicKeyInfo, DER.
    public var publicKeyDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else { fatalError("i2d_PUBKEY") }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}

extension TestPKI {
    /// A DER CRL by `issuer` with `entries` in the order given, the authority key identifier and
    /// `extensions`, signed as `signature` (by `signer`, else the issuer's key).
    public static func crl(issuer: TestCertificate, entries: [TestCRLEntry], extensions: [TestCRLExtension] = [],
                           signature: TestCRLSignature = .digest("SHA256"), signer: TestKey? = nil,
                           lastUpdate: Date = Date(timeIntervalSinceNow: -3600),
                           nextUpdate: Date = Date(timeIntervalSinceNow: 7 * 86_400)) -> [UInt8] {
        guard let crl = X509_CRL_new() else { fatalError("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        X509_CRL_set_version(crl, 1)
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.x509))
        for (date, set) in [(lastUpdate, X509_CRL_set1_lastUpdate), (nextUpdate, X509_CRL_set1_nextUpdate)] {
            let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970))
            _ = set(crl, time)
            ASN1_TIME_free(time)
        }
        for spec in entries {
            guard let entry = X509_REVOKED_new() else { fatalError("X509_REVOKED_new") }
            let number = spec.serial.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
            let serial = BN_to_ASN1_INTEGER(number, nil)
            BN_free(number)
            X509_REVOKED_set_serialNumber(entry, serial)
            ASN1_INTEGER_free(serial)
            let when = ASN1_TIME_set(nil, time_t(lastUpdate.timeIntervalSince1970) - 60)
            X509_REVOKED_set_revocationDate(entry, when)
            ASN1_TIME_free(when)
            if let reason = spec.reason {
                let code = ASN1_ENUMERATED_new()
                ASN1_ENUMERATED_set(code, reason)
                X509_REVOKED_add1_ext_i2d(entry, NID_crl_reason, UnsafeMutableRawPointer(code), 0, 0)
                ASN1_ENUMERATED_free(code)
            }
            if spec.criticalExtension {
                addExtension(TestCRLExtension.unknownCritical) { X509_REVOKED_add_ext(entry, $0, -1) }
            }
            if let certificateIssuer = spec.certificateIssuer {
                // GeneralNames { directoryName [4] Name }
                let name = der { i2d_X509_NAME(X509_get_subject_name(certificateIssuer.x509), &$0) }
                let directoryName = [UInt8(0xa4)] + derLength(name.count) + name
                let value = [UInt8(0x30)] + derLength(directoryName.count) + directoryName
                addExtension(TestCRLExtension(oid: "2.5.29.29", critical: true, value: value)) { X509_REVOKED_add_ext(entry, $0, -1) }
            }
            X509_CRL_add0_revoked(crl, entry)
        }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.x509, nil, nil, crl, 0)
        guard let keyIdentifier = X509V3_EXT_nconf(nil, &context, "authorityKeyIdentifier", "keyid") else { fatalError("authorityKeyIdentifier") }
        X509_CRL_add_ext(crl, keyIdentifier, -1)
        X509_EXTENSION_free(keyIdentifier)
        for spec in extensions {
            addExtension(spec) { X509_CRL_add_ext(crl, $0, -1) }
        }
        let key = (signer ?? issuer.key).pkey
        switch signature {
        case .digest(let name):
            guard X509_CRL_sign(crl, key, digest(name)) > 0 else { fatalError("X509_CRL_sign") }
        case .rsaPSS:
            guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new") }
            defer { EVP_MD_CTX_free(context) }
            var keyContext: OpaquePointer?
            guard EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, key) == 1,
                  EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  X509_CRL_sign_ctx(crl, context) > 0 else { fatalError("RSA-PSS CRL signature") }
        }
        return der { i2d_X509_CRL(crl, &$0) }
    }

    /// `der` as PEM ("X509 CRL").
    public static func crlPEM(_ der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines: [Substring] = []
        var rest = Substring(base64)
        while !rest.isEmpty {
            lines.append(rest.prefix(64))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN X509 CRL-----\n" + lines.joined(separator: "\n") + "\n-----END X509 CRL-----\n"
    }

    private static func addExtension(_ spec: TestCRLExtension, _ add: (OpaquePointer) -> Int32) {
        guard let oid = OBJ_txt2obj(spec.oid, 1), let value = ASN1_OCTET_STRING_new() else { fatalError("extension \(spec.oid)") }
        defer {
            ASN1_OBJECT_free(oid)
            ASN1_OCTET_STRING_free(value)
        }
        ASN1_OCTET_STRING_set(value, spec.value, Int32(spec.value.count))
        guard let ext = X509_EXTENSION_create_by_OBJ(nil, oid, spec.critical ? 1 : 0, value) else { fatalError("extension \(spec.oid)") }
        defer { X509_EXTENSION_free(ext) }
        guard add(ext) == 1 else { fatalError("adding extension \(spec.oid)") }
    }

    private static func der(_ encode: (inout UnsafeMutablePointer<UInt8>?) -> Int32) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = encode(&out)
        guard length > 0, let out else { fatalError("DER encoding") }
        defer { CNSSSL_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    private static func derLength(_ length: Int) -> [UInt8] {
        if length < 0x80 { return [UInt8(length)] }
        var bytes: [UInt8] = []
        var value = length
        while value > 0 {
            bytes.insert(UInt8(value & 0xff), at: 0)
            value >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
}
