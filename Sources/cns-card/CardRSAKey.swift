// Needs CardShims.h in the COpenSSLShims module: COpenSSLShims.h must `#include "CardShims.h"`
// (SwiftPM makes a header named after the target the umbrella, so other headers are not seen).
import COpenSSL
import COpenSSLShims
import SmartCard

/// Where the RSA key finds its card signer: ex_data slot allocated once per process.
let cardSignerIndex: Int32 = CNSCard_RSA_get_ex_new_index()

/// The card side of a TLS private-key operation. OpenSSL calls `privateEncrypt` from inside
/// its handshake; no Swift error may cross that C frame, so a failure is stored here and
/// the C callback returns -1.
final class CardSigner {
    let card: CNSCard
    let modulusLength: Int
    private(set) var lastError: SmartCardError?
    /// What was signed, for the user: "RSA PKCS#1 v1.5" or "RSA-PSS".
    private(set) var schemes: [String] = []

    init(card: CNSCard, modulusLength: Int) {
        self.card = card
        self.modulusLength = modulusLength
    }

    /// OpenSSL hands over either a DigestInfo to be PKCS#1 v1.5 padded (TLS 1.2,
    /// RSA_PKCS1_PADDING) or a block it already PSS-encoded (TLS 1.3, RSA_NO_PADDING); the
    /// card only does raw RSA on a modulus-length block (CNS.md section 5).
    func privateEncrypt(_ input: [UInt8], padding: Int32) -> [UInt8]? {
        do throws(SmartCardError) {
            let block: [UInt8]
            switch padding {
            case CNSCard_RSA_PKCS1_PADDING:
                block = try SignaturePadding.pkcs1v15(payload: input, modulusLength: modulusLength)
                schemes.append("RSA PKCS#1 v1.5")
            case CNSCard_RSA_NO_PADDING:
                guard input.count == modulusLength else {
                    throw SmartCardError(.invalidSignatureInput, "a \(input.count)-byte block for a \(modulusLength)-byte key")
                }
                block = input
                schemes.append("RSA-PSS")
            default:
                throw SmartCardError(.invalidSignatureInput, "padding mode \(padding) is not supported by the card")
            }
            return try card.signRaw(block)
        } catch {
            lastError = error
            return nil
        }
    }
}

/// An OpenSSL private key whose public half comes from the card's certificate and whose
/// private operation runs on the card. Owns the RSA_METHOD and the EVP_PKEY (which owns the RSA).
final class CardRSAKey {
    let pkey: OpaquePointer
    private let method: OpaquePointer
    let signer: CardSigner

    init(certificate: X509Certificate, card: CNSCard) throws(LoginError) {
        guard let publicKey = X509_get0_pubkey(certificate.x509), EVP_PKEY_get_base_id(publicKey) == EVP_PKEY_RSA else {
            throw LoginError("the card's certificate does not hold an RSA key")
        }
        var n: OpaquePointer?
        var e: OpaquePointer?
        guard EVP_PKEY_get_bn_param(publicKey, "n", &n) == 1, EVP_PKEY_get_bn_param(publicKey, "e", &e) == 1 else {
            BN_free(n)
            throw LoginError.openSSL("cannot read the certificate's RSA key")
        }
        guard let template = CNSCard_RSA_PKCS1_OpenSSL(), let method = CNSCard_RSA_meth_dup(template) else {
            BN_free(n); BN_free(e)
            throw LoginError.openSSL("cannot create an RSA method")
        }
        CNSCard_RSA_meth_set1_name(method, "cns-card smart card")
        CNSCard_RSA_meth_set_priv_enc(method) { length, from, to, rsa, padding in
            guard let from, let to, let rsa, let raw = CNSCard_RSA_get_ex_data(rsa, cardSignerIndex) else { return -1 }
            let signer = Unmanaged<CardSigner>.fromOpaque(raw).takeUnretainedValue()
            let input = Array(UnsafeBufferPointer(start: from, count: Int(length)))
            guard let signature = signer.privateEncrypt(input, padding: padding),
                  signature.count <= signer.modulusLength else { return -1 }
            // The output buffer is RSA_size bytes; a raw RSA result is left-padded to it.
            let offset = signer.modulusLength - signature.count
            for i in 0..<offset { to[i] = 0 }
            for (i, byte) in signature.enumerated() { to[offset + i] = byte }
            return Int32(signer.modulusLength)
        }
        guard let rsa = CNSCard_RSA_new() else {
            BN_free(n); BN_free(e); CNSCard_RSA_meth_free(method)
            throw LoginError.openSSL("RSA_new")
        }
        CNSCard_RSA_set_method(rsa, method)
        CNSCard_RSA_set0_key(rsa, n, e, nil)  // the RSA owns n and e from here
        signer = CardSigner(card: card, modulusLength: Int(CNSCard_RSA_size(rsa)))
        CNSCard_RSA_set_ex_data(rsa, cardSignerIndex, Unmanaged.passUnretained(signer).toOpaque())
        guard let pkey = EVP_PKEY_new(), CNSCard_EVP_PKEY_assign_RSA(pkey, rsa) == 1 else {
            CNSCard_RSA_free(rsa); CNSCard_RSA_meth_free(method)
            throw LoginError.openSSL("cannot wrap the card key")
        }
        self.pkey = pkey
        self.method = method
    }

    deinit {
        // The key (and its RSA) first: RSA_free still calls into the method.
        EVP_PKEY_free(pkey)
        CNSCard_RSA_meth_free(method)
    }
}

/// A login failure other than the card's own (TLS, network, HTTP), with OpenSSL's queue.
struct LoginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    static func openSSL(_ context: String) -> LoginError {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return LoginError(messages.isEmpty ? context : "\(context): \(messages.joined(separator: "; "))")
    }
}

/// The owner of one parsed `X509`, freed in `deinit`.
final class X509Certificate {
    let x509: OpaquePointer

    init(der: [UInt8]) throws(LoginError) {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw LoginError.openSSL("the card's certificate does not parse") }
        x509 = parsed
    }

    deinit { X509_free(x509) }
}
