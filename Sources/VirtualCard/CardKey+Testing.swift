internal import COpenSSL

/// Key generation and signature checks, so tests can build a card and check what it signed
/// without a second crypto library.
extension CardKey {
    public enum SignatureScheme: Sendable { case pkcs1v15, pss }

    /// A fresh RSA key (tests only: 2048 bits takes 50-300 ms here).
    public static func generateRSA(bits: Int) throws(VirtualCardError) -> CardKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw VirtualCardError.openSSL(.privateKey, "EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1,
              EVP_PKEY_generate(ctx, &key) == 1, let key else {
            throw VirtualCardError.openSSL(.privateKey, "RSA key generation failed")
        }
        return CardKey(owning: key)
    }

    /// SHA-256 of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = EVP_Digest(data, data.count, &digest, &length, EVP_sha256(), nil)
        precondition(ok == 1 && length == 32, "SHA-256 failed")
        return digest
    }

    /// Whether `signature` is this key's SHA-256 signature of `digest` under `scheme`
    /// (PSS: MGF1-SHA-256, salt length = 32, what TLS 1.3 uses).
    public func verify(signature: [UInt8], sha256Digest digest: [UInt8], scheme: SignatureScheme) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx); ERR_clear_error() }
        guard EVP_PKEY_verify_init(ctx) == 1,
              EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_padding(ctx, scheme == .pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1 else {
            return false
        }
        if scheme == .pss, EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32) != 1 { return false }
        return EVP_PKEY_verify(ctx, signature, signature.count, digest, digest.count) == 1
    }
}
