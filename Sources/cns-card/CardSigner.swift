import SmartCard
import TLS

/// The card side of the TLS client key: OpenSSL calls `privateOperation` from inside its
/// handshake (through TLS's external key), and the card signs. No Swift error may cross that
/// C frame, so a failure is stored here for the command to report.
final class CardSigner: RSAPrivateKeyOperation {
    let card: CNSCard
    let modulusLength: Int
    private(set) var lastError: SmartCardError?
    /// What was signed, for the user: "RSA PKCS#1 v1.5" or "RSA-PSS".
    private(set) var schemes: [String] = []

    init(card: CNSCard, modulusLength: Int) {
        self.card = card
        self.modulusLength = modulusLength
    }

    /// OpenSSL hands over either a DigestInfo to be PKCS#1 v1.5 padded (TLS 1.2) or a block
    /// it already PSS-encoded (TLS 1.3); the card only does raw RSA on a modulus-length block
    /// (CNS.md section 5).
    func privateOperation(_ input: [UInt8], kind: RSAPrivateInput) -> [UInt8]? {
        do throws(SmartCardError) {
            let block: [UInt8]
            switch kind {
            case .pkcs1DigestInfo:
                block = try SignaturePadding.pkcs1v15(payload: input, modulusLength: modulusLength)
                schemes.append("RSA PKCS#1 v1.5")
            case .rawBlock:
                guard input.count == modulusLength else {
                    throw SmartCardError(.invalidSignatureInput, "a \(input.count)-byte block for a \(modulusLength)-byte key")
                }
                block = input
                schemes.append("RSA-PSS")
            }
            return try card.signRaw(block)
        } catch {
            lastError = error
            return nil
        }
    }
}
