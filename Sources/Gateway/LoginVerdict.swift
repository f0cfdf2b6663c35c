import CNS
import FoundationEssentials
import TLS

/// The gateway's whole verdict on the certificate of one connection: the chain
/// (trust, validity, revocation, legacy strength) first, then the CNS profile and the
/// Codice Fiscale. Computed once per connection, when a handler first needs it.
struct LoginVerdict: Sendable {
    /// One reason code: the chain's when it failed, else the profile's.
    var reason: String
    var chain: CertificateVerdict
    var identity: CNSIdentity?
    var rejection: CNSRejection?
    var peer: PeerCertificate?
    /// When the card signed the handshake this verdict is about.
    var handshakeAt: Date?

    var accepted: Bool { reason == "ok" }

    static func evaluate(chain: CertificateVerdict, peer: PeerCertificate?, profile: ProfileSettings,
                         handshakeAt: Date? = nil) -> LoginVerdict {
        guard let peer else {
            return LoginVerdict(reason: CertificateReason.noCertificate.rawValue, chain: chain, peer: nil, handshakeAt: handshakeAt)
        }
        let evaluated = CNSEvaluator.evaluate(leafDER: peer.der, profile: profile.profile)
        var verdict = LoginVerdict(reason: chain.reason.rawValue, chain: chain, peer: peer, handshakeAt: handshakeAt)
        switch evaluated {
        case .success(let identity):
            verdict.identity = identity
        case .failure(let rejection):
            verdict.rejection = rejection
            if chain.reason == .ok && profile.enabled { verdict.reason = rejection.reason.rawValue }
        }
        return verdict
    }
}
