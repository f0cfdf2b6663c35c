/// Host-side signature encodings for a card that does raw RSA (the CNS PSO COMPUTE DIGITAL
/// SIGNATURE takes a full modulus-length block). RFC 8017 sections 9.1 (EMSA-PSS) and 9.2
/// (EMSA-PKCS1-v1_5). Pure: the hash function is passed in, so this module needs no crypto library.
public enum SignaturePadding {
    public enum Digest: Sendable {
        case sha1, sha256, sha384, sha512

        public var length: Int {
            switch self {
            case .sha1: return 20
            case .sha256: return 32
            case .sha384: return 48
            case .sha512: return 64
            }
        }

        /// The DER DigestInfo header that precedes the hash (RFC 8017 section 9.2, note 1).
        public var digestInfoPrefix: [UInt8] {
            switch self {
            case .sha1:
                return [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14]
            case .sha256:
                return [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]
            case .sha384:
                return [0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30]
            case .sha512:
                return [0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40]
            }
        }
    }

    /// `00 01 FF..FF 00 T`, where T is an encoded DigestInfo (or, for TLS 1.0/1.1 style
    /// signatures, any payload the caller already built). At least 8 bytes of FF.
    public static func pkcs1v15(payload: [UInt8], modulusLength: Int) throws(SmartCardError) -> [UInt8] {
        guard payload.count + 11 <= modulusLength else {
            throw SmartCardError(.invalidSignatureInput, "a \(payload.count)-byte payload does not fit a \(modulusLength)-byte modulus")
        }
        return [0x00, 0x01] + [UInt8](repeating: 0xFF, count: modulusLength - payload.count - 3) + [0x00] + payload
    }

    public static func pkcs1v15(digest: [UInt8], algorithm: Digest, modulusLength: Int) throws(SmartCardError) -> [UInt8] {
        guard digest.count == algorithm.length else {
            throw SmartCardError(.invalidSignatureInput, "digest of \(digest.count) bytes for a \(algorithm.length)-byte hash")
        }
        return try pkcs1v15(payload: algorithm.digestInfoPrefix + digest, modulusLength: modulusLength)
    }

    /// EMSA-PSS-ENCODE with MGF1 over the same hash. `modulusBits` is the key size in bits;
    /// the result is padded with a leading zero byte to the modulus length when emBits is a
    /// multiple of 8, so it can be sent to the card as is.
    public static func pss(digest mHash: [UInt8], salt: [UInt8], modulusBits: Int,
                           hash: ([UInt8]) -> [UInt8]) throws(SmartCardError) -> [UInt8] {
        let hLen = mHash.count
        let emBits = modulusBits - 1
        let emLen = (emBits + 7) / 8
        guard hLen > 0, emLen >= hLen + salt.count + 2 else {
            throw SmartCardError(.invalidSignatureInput, "hash and salt do not fit the modulus")
        }
        let mPrime = [UInt8](repeating: 0, count: 8) + mHash + salt
        let h = hash(mPrime)
        guard h.count == hLen else {
            throw SmartCardError(.invalidSignatureInput, "the hash function returned \(h.count) bytes, expected \(hLen)")
        }
        var db = [UInt8](repeating: 0, count: emLen - salt.count - hLen - 2) + [0x01] + salt
        let mask = mgf1(seed: h, length: db.count, hash: hash)
        for i in db.indices { db[i] ^= mask[i] }
        // Clear the leftmost 8*emLen - emBits bits.
        let unusedBits = 8 * emLen - emBits
        db[0] &= 0xFF >> unusedBits
        let em = db + h + [0xBC]
        let modulusLength = (modulusBits + 7) / 8
        return [UInt8](repeating: 0, count: modulusLength - em.count) + em
    }

    static func mgf1(seed: [UInt8], length: Int, hash: ([UInt8]) -> [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var counter: UInt32 = 0
        while output.count < length {
            let c: [UInt8] = [UInt8(counter >> 24), UInt8((counter >> 16) & 0xFF), UInt8((counter >> 8) & 0xFF), UInt8(counter & 0xFF)]
            output += hash(seed + c)
            counter += 1
        }
        return Array(output.prefix(length))
    }
}
