import CNS
import FoundationEssentials
import OIDC
import Posix
import Synchronization
import TLS

/// How the card reached the gateway.
enum CardOrigin: Sendable, Equatable {
    /// In the TLS handshake with the gateway (directly, or behind a PROXY-protocol proxy).
    case handshake
    /// In a request header from a trusted reverse proxy, which did the handshake.
    case forwarded(proxy: SocketAddress)

    /// The audit trail's `via`.
    var via: String {
        switch self {
        case .handshake: "handshake"
        case .forwarded: "forwarded"
        }
    }

    var proxy: SocketAddress? {
        if case .forwarded(let proxy) = self { return proxy }
        return nil
    }
}

/// The gateway's whole verdict on a card certificate: the chain (trust, validity, revocation,
/// legacy strength) first, then the CNS profile and the Codice Fiscale. The same value for a
/// handshake's certificate, a forwarded one and `inspect-cert`'s file.
struct CardVerdict: Sendable {
    /// One reason code: the chain's when it failed, else the profile's.
    var reason: String
    var chain: CertificateVerdict
    var identity: CNSIdentity?
    var rejection: CNSRejection?
    var peer: PeerCertificate?
    /// When the card signed the handshake this verdict is about (nil for a forwarded card: the
    /// proxy's handshake time is not known).
    var handshakeAt: Date?
    var origin: CardOrigin = .handshake
    /// Why bytes that were meant to be the certificate are none (a forwarded header's parse error).
    var detail: String?

    var accepted: Bool { reason == "ok" }

    /// The card the certificate was recognised as, accepted or not (a refused CIE is still a
    /// CIE: its page, log line and audit record say so); nil when the profile could not tell.
    var kind: CardKind? { identity?.kind ?? rejection?.kind }

    static func evaluate(chain: CertificateVerdict, peer: PeerCertificate?, profile: ProfileSettings,
                         handshakeAt: Date? = nil) -> CardVerdict {
        guard let peer else {
            // No certificate, or (forwarded) bytes that were none: the chain verdict says which.
            return CardVerdict(reason: chain.reason.rawValue, chain: chain, peer: nil, handshakeAt: handshakeAt)
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
                         certificateIssuer: peer?.issuer ?? identity?.issuer, handshakeAt: handshakeAt,
                         via: origin.via, proxyAddress: origin.proxy?.description, cardKind: kind)
    }
}

/// The card a connection presented in its handshake (or, behind an HTTP reverse proxy, the one
/// a request's header carries), and the verdict on it, computed the first time a route needs it
/// (most requests never do: probes, the back channel, pages without the card). Shared by the
/// requests of one connection (a forwarded card by one request only); the evaluation itself
/// has no side effects.
///
/// The verdict belongs to a trust generation. A connection kept alive across a reload (a new
/// CRL revoking the card, a CA removed) is judged again under the generation current when a
/// route asks, from the chain it presented; the verified-chain cache makes that cheap when
/// nothing changed for this chain.
final class ConnectionCard: Sendable {
    private enum Presented {
        case none
        /// The handshake's peer and chain verdict, and the generation it was reached under.
        case handshake(PeerCertificate, chain: CertificateVerdict, generation: Int)
        /// A forwarded leaf's DER, parsed and verified only when a route asks.
        case forwarded(leaf: [UInt8])
        /// A forwarded header that was meant to hold the certificate but does not decode.
        case unreadable(detail: String)
    }

    private let presented: Presented
    /// The certificates the client sent after its own.
    let intermediates: [[UInt8]]
    let handshakeAt: Date?
    let origin: CardOrigin
    private let memo = Mutex<(generation: Int, verdict: CardVerdict)?>(nil)

    init(chain: CertificateVerdict, peer: PeerCertificate?, intermediates: [[UInt8]] = [], handshakeAt: Date?, generation: Int) {
        self.presented = peer.map { .handshake($0, chain: chain, generation: generation) } ?? .none
        self.intermediates = intermediates.filter { $0 != peer?.der }
        self.handshakeAt = handshakeAt
        self.origin = .handshake
    }

    private init(presented: Presented, intermediates: [[UInt8]], origin: CardOrigin) {
        self.presented = presented
        self.intermediates = intermediates
        self.handshakeAt = nil
        self.origin = origin
    }

    /// No card: a connection without TLS or without a certificate (one per connection: its
    /// verdict is reported once for each).
    static func none() -> ConnectionCard { ConnectionCard(chain: .noCertificate, peer: nil, handshakeAt: nil, generation: 0) }

    /// What a trusted proxy forwarded with one request: a leaf (and the chain the client sent
    /// it), none (`leaf` nil), or a header that does not decode (`unreadable`).
    static func forwarded(leaf: [UInt8]?, chain: [[UInt8]] = [], unreadable: String? = nil, proxy: SocketAddress) -> ConnectionCard {
        let presented: Presented
        if let unreadable {
            presented = .unreadable(detail: unreadable)
        } else if let leaf {
            presented = .forwarded(leaf: leaf)
        } else {
            presented = .none
        }
        return ConnectionCard(presented: presented, intermediates: chain.filter { $0 != leaf }, origin: .forwarded(proxy: proxy))
    }

    /// Lowercase hex SHA-256 of the certificate presented for this request, whatever its
    /// verdict: its key's possession was proven to us in the handshake, or to the pinned proxy
    /// that forwarded it. What a certificate-bound access token is compared with.
    var presentedSHA256: String? {
        switch presented {
        case .handshake(let peer, _, _): peer.sha256
        case .forwarded(let leaf): PeerCertificate(der: leaf)?.sha256
        case .none, .unreadable: nil
        }
    }

    /// The verdict under `generation` (the one current when the route runs), and whether this
    /// call computed it (so the caller logs and counts it: once per connection and generation).
    func evaluate(under generation: Generation) -> (verdict: CardVerdict, computed: Bool) {
        if let memo = memo.withLock({ $0 }), memo.generation == generation.number { return (memo.verdict, false) }
        let profile = generation.config.profile
        var verdict: CardVerdict
        switch presented {
        case .none:
            verdict = CardVerdict.evaluate(chain: .noCertificate, peer: nil, profile: profile)
        case .handshake(let peer, let chain, let handshakeGeneration):
            let current = handshakeGeneration == generation.number ? chain
                : generation.trust.verify(leafDER: peer.der, intermediatesDER: intermediates, useCache: true)
            verdict = CardVerdict.evaluate(chain: current, peer: peer, profile: profile, handshakeAt: handshakeAt)
        case .forwarded(let leaf):
            // The same verifier and cache as a handshake; a leaf sent alone gets its chain from
            // the bundle, as when a client sends no intermediates.
            if let peer = PeerCertificate(der: leaf) {
                let chain = generation.trust.verify(leafDER: leaf, intermediatesDER: intermediates, useCache: true)
                verdict = CardVerdict.evaluate(chain: chain, peer: peer, profile: profile)
            } else {
                verdict = CardVerdict.evaluate(chain: .malformed, peer: nil, profile: profile)
                verdict.detail = "not_x509_der"
            }
        case .unreadable(let detail):
            verdict = CardVerdict.evaluate(chain: .malformed, peer: nil, profile: profile)
            verdict.detail = detail
        }
        verdict.origin = origin
        memo.withLock { $0 = (generation.number, verdict) }
        return (verdict, true)
    }

    /// The verdict if a route has computed it.
    var evaluated: CardVerdict? { memo.withLock { $0?.verdict } }
}
