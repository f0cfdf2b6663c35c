internal import COpenSSL

/// The card's private key: the owner of one `EVP_PKEY`, freed in `deinit`. The card only
/// does raw RSA (the host pads), like the real CNS chip.
public final class CardKey {
    let pkey: OpaquePointer

    /// PEM (PKCS#8 or traditional) or DER.
    public init(contentsOf bytes: [UInt8]) throws(VirtualCardError) {
        var loaded: OpaquePointer?
        bytes.withUnsafeBytes { raw in
            if let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) {
                loaded = PEM_read_bio_PrivateKey(bio, nil, nil, nil)
                BIO_free(bio)
            }
            if loaded == nil {
                ERR_clear_error()
                var cursor = raw.bindMemory(to: UInt8.self).baseAddress
                loaded = d2i_AutoPrivateKey(nil, &cursor, raw.count)
            }
        }
        guard let loaded else { throw VirtualCardError.openSSL(.privateKey, "cannot read the private key") }
        guard EVP_PKEY_get_base_id(loaded) == EVP_PKEY_RSA else {
            EVP_PKEY_free(loaded)
            throw VirtualCardError(.privateKey, "the card key must be RSA")
        }
        pkey = loaded
    }

    init(owning pkey: OpaquePointer) {
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The DER SubjectPublicKeyInfo of the key's public half (to match it with a certificate).
    public var publicKeyInfoDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// Bytes in the modulus: the length of a block to sign and of the signature.
    public var modulusLength: Int { Int(EVP_PKEY_get_size(pkey)) }
    public var modulusBits: Int { Int(EVP_PKEY_get_bits(pkey)) }

    /// m^d mod n on a modulus-length block. Fails when the block is not smaller than n.
    public func rawPrivateOperation(_ block: [UInt8]) throws(VirtualCardError) -> [UInt8] {
        guard block.count == modulusLength else {
            throw VirtualCardError(.signature, "block of \(block.count) bytes for a \(modulusLength)-byte modulus")
        }
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { throw VirtualCardError.openSSL(.signature, "EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_sign_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 else {
            throw VirtualCardError.openSSL(.signature, "cannot set up raw RSA")
        }
        var output = [UInt8](repeating: 0, count: modulusLength)
        var outputLength = output.count
        guard EVP_PKEY_sign(ctx, &output, &outputLength, block, block.count) == 1 else {
            throw VirtualCardError.openSSL(.signature, "raw RSA failed")
        }
        return Array(output.prefix(outputLength))
    }

    /// m^e mod n, to check a signature in tests.
    public func rawPublicOperation(_ signature: [UInt8]) throws(VirtualCardError) -> [UInt8] {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { throw VirtualCardError.openSSL(.signature, "EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_verify_recover_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 else {
            throw VirtualCardError.openSSL(.signature, "cannot set up raw RSA")
        }
        var output = [UInt8](repeating: 0, count: modulusLength)
        var outputLength = output.count
        guard EVP_PKEY_verify_recover(ctx, &output, &outputLength, signature, signature.count) == 1 else {
            throw VirtualCardError.openSSL(.signature, "raw RSA public operation failed")
        }
        return Array(output.prefix(outputLength))
    }
}
