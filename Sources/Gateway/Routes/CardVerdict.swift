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
    /// Which source decided the revocation part (nil when the chain failed before revocation
    /// mattered: an unknown issuer, a bad signature, an expired card...).
    var revocationSource: RevocationSource?
    /// Why OCSP gave no usable answer, when it was asked and did not.
    var ocspFailure: String?

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
        /// The handshake's certificates and chain verdict, and the generation it was reached under.
        case handshake(PresentedCertificates, chain: CertificateVerdict, generation: Int)
        /// A forwarded leaf's DER, parsed and verified only when a route asks.
        case forwarded(leaf: [UInt8])
        /// A forwarded header that was meant to hold the certificate but does not decode.
        case unreadable(detail: String)
    }

    private let presented: Presented
    /// The certificates a forwarded request's header carried after the leaf.
    private let forwardedIntermediates: [[UInt8]]
    let handshakeAt: Date?
    let origin: CardOrigin
    private let memo = Mutex<(generation: Int, verdict: CardVerdict)?>(nil)

    init(chain: CertificateVerdict, presented: PresentedCertificates?, handshakeAt: Date?, generation: Int) {
        self.presented = presented.map { .handshake($0, chain: chain, generation: generation) } ?? .none
        self.forwardedIntermediates = []
        self.handshakeAt = handshakeAt
        self.origin = .handshake
    }

    private init(presented: Presented, intermediates: [[UInt8]], origin: CardOrigin) {
        self.presented = presented
        self.forwardedIntermediates = intermediates
        self.handshakeAt = nil
        self.origin = origin
    }

    /// No card: a connection without TLS or without a certificate (one per connection: its
    /// verdict is reported once for each).
    static func none() -> ConnectionCard { ConnectionCard(chain: .noCertificate, presented: nil, handshakeAt: nil, generation: 0) }

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
        case .handshake(let certificates, _, _): certificates.peer.sha256
        case .forwarded(let leaf): PeerCertificate(der: leaf)?.sha256
        case .none, .unreadable: nil
        }
    }

    /// The verdict under `generation` (the one current when the route runs), and whether this
    /// call computed it (so the caller logs and counts it: once per connection and generation);
    /// or, when the card's responder must be asked first, the work that finishes the verdict
    /// off the loop thread.
    func evaluate(under generation: Generation) -> CardEvaluation {
        if let memo = memo.withLock({ $0 }), memo.generation == generation.number { return .decided(memo.verdict, computed: false) }
        let profile = generation.config.profile
        var verdict: CardVerdict
        switch presented {
        case .none:
            verdict = CardVerdict.evaluate(chain: .noCertificate, peer: nil, profile: profile)
        case .handshake(let certificates, let chain, let handshakeGeneration):
            let peer = certificates.peer
            let current = handshakeGeneration == generation.number ? chain
                : generation.trust.verify(leafDER: peer.der, intermediatesDER: intermediates, useCache: true)
            return withRevocation(current, peer: peer, generation: generation)
        case .forwarded(let leaf):
            // The same verifier and cache as a handshake; a leaf sent alone gets its chain from
            // the bundle, as when a client sends no intermediates.
            if let peer = PeerCertificate(der: leaf) {
                let chain = generation.trust.verify(leafDER: leaf, intermediatesDER: intermediates, useCache: true)
                return withRevocation(chain, peer: peer, generation: generation)
            }
            verdict = CardVerdict.evaluate(chain: .malformed, peer: nil, profile: profile)
            verdict.detail = "not_x509_der"
        case .unreadable(let detail):
            verdict = CardVerdict.evaluate(chain: .malformed, peer: nil, profile: profile)
            verdict.detail = detail
        }
        return .decided(remember(verdict, generation: generation.number), computed: true)
    }

    /// The chain verdict completed by OCSP when `[trust] ocsp` asks for it: from the answer
    /// cache right here, or by a query the caller runs on the blocking pool.
    private func withRevocation(_ chain: CertificateVerdict, peer: PeerCertificate, generation: Generation) -> CardEvaluation {
        let settings = generation.config.ocsp
        let number = generation.number
        let profile = generation.config.profile
        let finish: @Sendable (CertificateVerdict, RevocationSource?, String?) -> CardVerdict = { chain, source, failure in
            var verdict = CardVerdict.evaluate(chain: chain, peer: peer, profile: profile, handshakeAt: self.handshakeAt)
            verdict.revocationSource = source
            verdict.ocspFailure = failure
            return self.remember(verdict, generation: number)
        }
        guard OCSPJudgement.wanted(chain, settings: settings) else {
            return .decided(finish(chain, OCSPJudgement.crlSource(chain), nil), computed: true)
        }
        guard let question = generation.trust.ocspQuestion(leafDER: peer.der, intermediatesDER: intermediates) else {
            let combined = OCSPJudgement.combine(chain, .failed("the issuing CA was not found"), mode: settings.mode)
            return .decided(finish(combined.chain, combined.source, combined.failure), computed: true)
        }
        if let (answer, responder) = OCSPCache.shared.lookup(question, now: Date()) {
            OCSPMetrics.cacheHit()
            let combined = OCSPJudgement.combine(chain, .answer(answer, responder: responder, cached: true), mode: settings.mode)
            return .decided(finish(combined.chain, combined.source, combined.failure), computed: true)
        }
        return .pending(OCSPPending { () -> CardVerdict in
            let outcome = OCSPClient.ask(question, settings: settings)
            let combined = OCSPJudgement.combine(chain, outcome, mode: settings.mode)
            return finish(combined.chain, combined.source, combined.failure)
        })
    }

    private func remember(_ verdict: CardVerdict, generation: Int) -> CardVerdict {
        var verdict = verdict
        verdict.origin = origin
        memo.withLock { $0 = (generation, verdict) }
        return verdict
    }

    /// The verdict if a route has computed it.
    var evaluated: CardVerdict? { memo.withLock { $0?.verdict } }

    /// The certificates the client sent after its own (read from the handshake's on demand).
    var intermediates: [[UInt8]] {
        if case .handshake(let certificates, _, _) = presented { return certificates.intermediatesDER }
        return forwardedIntermediates
    }
}

/// What `ConnectionCard.evaluate` came to.
enum CardEvaluation {
    /// The verdict, and whether this call computed it (the caller then logs and counts it).
    case decided(CardVerdict, computed: Bool)
    /// The card's responder must be asked: run `resolve` on the blocking pool; its verdict is
    /// a computed one.
    case pending(OCSPPending)
}

/// An OCSP query and the verdict it completes; blocking, for the blocking pool only.
struct OCSPPending: Sendable {
    let resolve: @Sendable () -> CardVerdict

    init(_ resolve: @escaping @Sendable () -> CardVerdict) { self.resolve = resolve }
}

/// How an OCSP outcome and the chain's (CRL) verdict make one, under `[trust] ocsp`.
enum OCSPJudgement {
    /// Whether to ask: OCSP on, and the chain either accepted or refused only because the
    /// card's own revocation could not be established from a CRL. A chain the CRL refuses
    /// (revoked) or that fails otherwise is not asked about; neither is one whose CAs'
    /// revocation is in doubt (the card's responder cannot speak for its CA).
    static func wanted(_ chain: CertificateVerdict, settings: OCSPSettings) -> Bool {
        guard settings.enabled else { return false }
        switch chain.reason {
        case .ok: return true
        case .revocationUnavailable: return !chain.crlGapAboveLeaf
        default: return false
        }
    }

    /// The source of a verdict decided without OCSP.
    static func crlSource(_ chain: CertificateVerdict) -> RevocationSource? {
        switch chain.reason {
        case .ok: chain.crlGapAtLeaf ? RevocationSource.none : .crl
        case .revoked, .revocationUnavailable: .crl
        default: nil
        }
    }

    static func combine(_ chain: CertificateVerdict, _ outcome: OCSPOutcome, mode: OCSPSettings.Mode)
        -> (chain: CertificateVerdict, source: RevocationSource?, failure: String?) {
        var combined = chain
        switch outcome {
        case .answer(let answer, _, let cached):
            let source: RevocationSource = cached ? .cache : .ocsp
            switch answer.status {
            case .good:
                combined.reason = .ok
                combined.opensslCode = X509VerifyCode.ok
            case .revoked:
                combined.reason = .revoked
                combined.opensslCode = X509VerifyCode.certificateRevoked
            case .unknown:
                return combine(chain, .failed("the responder does not know the certificate"), mode: mode)
            }
            combined.opensslError = CertificateVerdict(reason: combined.reason, opensslCode: combined.opensslCode).opensslError
            return (combined, source, nil)
        case .failed(let why):
            guard mode == .require else { return (chain, crlSource(chain), why) }
            combined.reason = .revocationUnavailable
            combined.opensslCode = X509VerifyCode.ocspVerifyFailed
            combined.opensslError = CertificateVerdict(reason: combined.reason, opensslCode: combined.opensslCode).opensslError
            return (combined, .ocsp, why)
        }
    }
}
