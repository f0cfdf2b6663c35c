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

    /// The card the certificate was recognised as, accepted or not (a refused CIE is still a
    /// CIE: its page, log line and audit record say so); nil when the profile could not tell.
    var kind: CardKind? { identity?.kind ?? rejection?.kind }

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
                         certificateIssuer: peer?.issuer ?? identity?.issuer, handshakeAt: handshakeAt, cardKind: kind)
    }
}

/// The card a connection presented in its handshake, and the verdict on it, computed the first
/// time a route needs it (most requests never do: probes, the back channel, pages without the
/// card). Shared by the requests of one connection; the evaluation itself has no side effects.
///
/// The verdict belongs to a trust generation. A connection kept alive across a reload (a new
/// CRL revoking the card, a CA removed) is judged again under the generation current when a
/// route asks, from the chain it presented; the verified-chain cache makes that cheap when
/// nothing changed for this chain.
final class ConnectionCard: Sendable {
    let peer: PeerCertificate?
    /// The certificates the client sent after its own.
    let intermediates: [[UInt8]]
    let handshakeAt: Date?
    /// The chain's verdict from the handshake, and the generation it was reached under.
    private let handshakeChain: CertificateVerdict
    private let handshakeGeneration: Int
    private let memo = Mutex<(generation: Int, verdict: CardVerdict)?>(nil)

    init(chain: CertificateVerdict, peer: PeerCertificate?, intermediates: [[UInt8]] = [], handshakeAt: Date?, generation: Int) {
        self.handshakeChain = chain
        self.peer = peer
        self.intermediates = intermediates.filter { $0 != peer?.der }
        self.handshakeAt = handshakeAt
        self.handshakeGeneration = generation
    }

    /// No card: a connection without TLS or without a certificate (one per connection: its
    /// verdict is reported once for each).
    static func none() -> ConnectionCard { ConnectionCard(chain: .noCertificate, peer: nil, handshakeAt: nil, generation: 0) }

    /// The verdict under `generation` (the one current when the route runs), and whether this
    /// call computed it (so the caller logs and counts it: once per connection and generation).
    func evaluate(under generation: Generation) -> (verdict: CardVerdict, computed: Bool) {
        if let memo = memo.withLock({ $0 }), memo.generation == generation.number { return (memo.verdict, false) }
        let chain: CertificateVerdict
        if let peer, generation.number != handshakeGeneration {
            chain = generation.trust.verify(leafDER: peer.der, intermediatesDER: intermediates, useCache: true)
        } else {
            chain = handshakeChain
        }
        let verdict = CardVerdict.evaluate(chain: chain, peer: peer, profile: generation.config.profile, handshakeAt: handshakeAt)
        memo.withLock { $0 = (generation.number, verdict) }
        return (verdict, true)
    }

    /// The verdict if a route has computed it.
    var evaluated: CardVerdict? { memo.withLock { $0?.verdict } }
}
