import COpenSSL
import COpenSSLShims

/// What OpenSSL hands to an external RSA key's private operation: a DigestInfo to be
/// PKCS#1 v1.5 padded (TLS 1.2 CertificateVerify), or a block it has already encoded (RSA-PSS
/// for TLS 1.3) on which the raw operation runs.
public enum RSAPrivateInput: Sendable {
    case pkcs1DigestInfo
    case rawBlock
}

/// A private RSA key that lives elsewhere (a smart card): OpenSSL calls `privateOperation`
/// from inside the handshake. No Swift error may cross that C frame, so a failure returns nil
/// and the implementation keeps the reason for its caller.
public protocol RSAPrivateKeyOperation: AnyObject {
    /// Bytes in the modulus.
    var modulusLength: Int { get }
    /// The private operation's result (at most `modulusLength` bytes), or nil on failure.
    func privateOperation(_ input: [UInt8], kind: RSAPrivateInput) -> [UInt8]?
}

/// Where the RSA key finds its external operation: ex_data slot allocated once per process.
let externalKeyIndex: Int32 = CNSRSA_RSA_get_ex_new_index()

/// The certificate and key a TLS client authenticates with, the key's private operation
/// done by `operation`. Owns the RSA_METHOD and the EVP_PKEY (which owns the RSA).
public final class TLSClientIdentity {
    public let certificate: X509Certificate
    let pkey: OpaquePointer
    private let method: OpaquePointer
    /// Kept alive as long as the key that points at it.
    private let operation: RSAPrivateKeyOperation

    public init(certificate: X509Certificate, operation: RSAPrivateKeyOperation) throws(TLSError) {
        guard let publicKey = X509_get0_pubkey(certificate.pointer), EVP_PKEY_get_base_id(publicKey) == EVP_PKEY_RSA else {
            throw TLSError(.privateKey, "the certificate does not hold an RSA key")
        }
        var n: OpaquePointer?
        var e: OpaquePointer?
        guard EVP_PKEY_get_bn_param(publicKey, "n", &n) == 1, EVP_PKEY_get_bn_param(publicKey, "e", &e) == 1 else {
            BN_free(n)
            throw TLSError.drainingQueue(.privateKey, "cannot read the certificate's RSA key")
        }
        guard let template = CNSRSA_RSA_PKCS1_OpenSSL(), let method = CNSRSA_RSA_meth_dup(template) else {
            BN_free(n); BN_free(e)
            throw TLSError.drainingQueue(.privateKey, "cannot create an RSA method")
        }
        CNSRSA_RSA_meth_set1_name(method, "cns-gateway external key")
        CNSRSA_RSA_meth_set_priv_enc(method) { length, from, to, rsa, padding in
            guard let from, let to, let rsa, let raw = CNSRSA_RSA_get_ex_data(rsa, externalKeyIndex) else { return -1 }
            let operation = Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as! RSAPrivateKeyOperation
            let kind: RSAPrivateInput
            switch padding {
            case CNSRSA_RSA_PKCS1_PADDING: kind = .pkcs1DigestInfo
            case CNSRSA_RSA_NO_PADDING: kind = .rawBlock
            default: return -1
            }
            let size = operation.modulusLength
            let input = Array(UnsafeBufferPointer(start: from, count: Int(length)))
            guard let result = operation.privateOperation(input, kind: kind), result.count <= size else { return -1 }
            // The output buffer is RSA_size bytes; a raw RSA result is left-padded to it.
            let offset = size - result.count
            for i in 0..<offset { to[i] = 0 }
            for (i, byte) in result.enumerated() { to[offset + i] = byte }
            return Int32(size)
        }
        guard let rsa = CNSRSA_RSA_new() else {
            BN_free(n); BN_free(e); CNSRSA_RSA_meth_free(method)
            throw TLSError.drainingQueue(.privateKey, "RSA_new")
        }
        CNSRSA_RSA_set_method(rsa, method)
        CNSRSA_RSA_set0_key(rsa, n, e, nil)  // the RSA owns n and e from here
        guard Int(CNSRSA_RSA_size(rsa)) == operation.modulusLength else {
            CNSRSA_RSA_free(rsa); CNSRSA_RSA_meth_free(method)
            throw TLSError(.privateKey, "the key's modulus length does not match the certificate's")
        }
        CNSRSA_RSA_set_ex_data(rsa, externalKeyIndex, Unmanaged.passUnretained(operation as AnyObject).toOpaque())
        guard let pkey = EVP_PKEY_new(), CNSRSA_EVP_PKEY_assign_RSA(pkey, rsa) == 1 else {
            CNSRSA_RSA_free(rsa); CNSRSA_RSA_meth_free(method)
            throw TLSError.drainingQueue(.privateKey, "cannot wrap the external key")
        }
        self.certificate = certificate
        self.pkey = pkey
        self.method = method
        self.operation = operation
    }

    deinit {
        // The key (and its RSA) first: RSA_free still calls into the method.
        EVP_PKEY_free(pkey)
        CNSRSA_RSA_meth_free(method)
    }
}
