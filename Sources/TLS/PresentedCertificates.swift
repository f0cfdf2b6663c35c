import COpenSSL
import COpenSSLShims
import Synchronization

/// The certificates a client presented in its handshake, held by reference: the session's own
/// `X509` objects, one more reference each, rather than copies. A connection keeps this for
/// its whole life and most connections never read it (probes, the back channel, pages without
/// the card), so the fields and the DER are read only when a route first asks; a thousand idle
/// card connections then cost a few hundred bytes each instead of their certificates twice.
///
/// `@unchecked Sendable`: the certificates are never modified after the handshake (OpenSSL 3
/// allows concurrent reads of one `X509`), and the fields read from them sit behind a Mutex.
public final class PresentedCertificates: @unchecked Sendable {
    private let leaf: X509Certificate
    private let chain: [X509Certificate]
    private let read = Mutex<(peer: PeerCertificate, intermediatesDER: [[UInt8]])?>(nil)

    init(leaf: X509Certificate, chain: [X509Certificate]) {
        self.leaf = leaf
        self.chain = chain
    }

    /// The same from DER, as a test has it; nil when the leaf does not parse (an intermediate
    /// that does not parse is left out, as the chain verifier would).
    public convenience init?(leafDER: [UInt8], intermediatesDER: [[UInt8]] = []) {
        guard let leaf = X509Certificate(der: leafDER) else { return nil }
        self.init(leaf: leaf, chain: intermediatesDER.compactMap { X509Certificate(der: $0) })
    }

    /// The leaf's fields, read on the first call (with the chain's DER).
    public var peer: PeerCertificate { fields.peer }

    /// The DER of the certificates sent after the leaf, without a repeat of the leaf.
    public var intermediatesDER: [[UInt8]] { fields.intermediatesDER }

    /// Both, read once: a card judged again under a newer trust asks for the chain twice
    /// (the verifier, then the OCSP question).
    private var fields: (peer: PeerCertificate, intermediatesDER: [[UInt8]]) {
        read.withLock { cached in
            if let cached { return cached }
            let leafDER = leaf.der
            let fields = (peer: PeerCertificate(reading: leaf.pointer, der: leafDER),
                          intermediatesDER: chain.map(\.der).filter { $0 != leafDER })
            cached = fields
            return fields
        }
    }
}

extension TLSConnection {
    /// The leaf and chain the client presented, if any (see `PresentedCertificates`).
    public func presentedCertificates() -> PresentedCertificates? {
        guard let cert = SSL_get0_peer_certificate(ssl), X509_up_ref(cert) == 1 else { return nil }
        let leaf = X509Certificate(taking: cert)
        // On the server side OpenSSL keeps the received chain without the leaf.
        var chain: [X509Certificate] = []
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<CNSSSL_sk_X509_num(stack) {
                if let cert = CNSSSL_sk_X509_value(stack, index), X509_up_ref(cert) == 1 { chain.append(X509Certificate(taking: cert)) }
            }
        }
        return PresentedCertificates(leaf: leaf, chain: chain)
    }
}
