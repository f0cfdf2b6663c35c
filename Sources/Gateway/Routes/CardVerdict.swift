import CNS
import FoundationEssentials
import OIDC
import Synchronization
import TLS

/// The gateway's whole verdict on a card certificate: the chain (trust, validity, revocation,
/// legacy strength) first, then the CNS profile and the Codice Fiscale. The same value for a
/// handshake's certificate and for `inspect-cert`'s file.
struct CardVerdict: Sendable {
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
                         handshakeAt: Date? = nil) -> CardVerdict {
        guard let peer else {
            return CardVerdict(reason: CertificateReason.noCertificate.rawValue, chain: chain, peer: nil, handshakeAt: handshakeAt)
        }
        let evaluated = CNSEvaluator.evaluate(leafDER: peer.der, profile: profile.profile)
        var verdict = CardVerdict(reason: chain.reason.rawValue, chain: chain, peer: peer, handshakeAt: handshakeAt)
        switch evaluated {
        case .success(let identity):
            verdict.identity = identity
        case .failure(let rejection):
            verdict.rejection = rejection
            if chain.reason == .ok && profile.enabled { verdict.reason = rejection.reason.rawValue }
        }
        return verdict
    }

    /// What the OpenID Connect provider needs of it.
    var cardLogin: CardLogin {
        let subject = accepted ? identity.map(LoginSubject.init(identity:)) : nil
        return CardLogin(reason: reason, subject: subject,
                         certificateSerial: peer?.serialHex ?? identity?.serialHex,
                         certificateIssuer: peer?.issuer ?? identity?.issuer, handshakeAt: handshakeAt)
    }
}

/// The card a connection presented in its handshake, and the verdict on it, computed the first
/// time a route needs it (most requests never do: probes, the back channel, pages without the
/// card). Shared by the requests of one connection; the evaluation itself has no side effects.
final class ConnectionCard: Sendable {
    let chain: CertificateVerdict
    let peer: PeerCertificate?
    let handshakeAt: Date?
    private let profile: ProfileSettings
    private let verdict = Mutex<CardVerdict?>(nil)

    init(chain: CertificateVerdict, peer: PeerCertificate?, handshakeAt: Date?, profile: ProfileSettings) {
        self.chain = chain
        self.peer = peer
        self.handshakeAt = handshakeAt
        self.profile = profile
    }

    /// No card: a connection without TLS or without a certificate.
    static func none(profile: ProfileSettings) -> ConnectionCard {
        ConnectionCard(chain: .noCertificate, peer: nil, handshakeAt: nil, profile: profile)
    }

    /// The verdict, and whether this call computed it (so the caller logs and counts it once
    /// per connection).
    func evaluate() -> (verdict: CardVerdict, first: Bool) {
        verdict.withLock { cached in
            if let cached { return (cached, false) }
            let computed = CardVerdict.evaluate(chain: chain, peer: peer, profile: profile, handshakeAt: handshakeAt)
            cached = computed
            return (computed, true)
        }
    }

    /// The verdict if a route has computed it.
    var evaluated: CardVerdict? { verdict.withLock { $0 } }
}
