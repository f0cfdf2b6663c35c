import COpenSSL
import COpenSSLShims
import FoundationEssentials
import Synchronization

/// SHA-256 fetched once: in OpenSSL 3 `EVP_sha256()` makes every digest look the
/// algorithm up in the provider store again (a lock and a hash-table probe).
/// `nonisolated(unsafe)`: a fetched EVP_MD is immutable and OpenSSL documents it as
/// safe to use from any thread; it is never freed.
nonisolated(unsafe) let prefetchedSHA256: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)

/// Accepted client chains of one trust generation, so a card that comes back within a
/// minute (the next request of a login, a browser's parallel connections) skips the
/// chain build, the CA and CRL signature checks and the CRL look-ups.
///
/// Only `ok` verdicts are kept, and an entry never outlives the earliest notAfter of the
/// verified chain, the earliest nextUpdate of the generation's CRLs, or `lifetime`.
/// The key is the whole chain the client presented (leaf and intermediates, each by
/// SHA-256), so a different intermediate is a different entry. One cache per
/// `TrustStore`, so a reload (new CAs or CRLs) starts empty.
final class VerifiedChainCache: Sendable {
    static let lifetime: Int64 = 60
    static let capacity = 4096

    private struct Entry {
        var verdict: CertificateVerdict
        var expires: Int64
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])
    /// Earliest nextUpdate over the generation's CRLs (Int64.max when none has one).
    private let crlHorizon: Int64

    init(crlNextUpdates: [Date?]) {
        crlHorizon = crlNextUpdates.compactMap { $0.map { Int64($0.timeIntervalSince1970) } }.min() ?? .max
    }

    /// The key of the chain the client presented in `storeCtx`; nil if it cannot be hashed.
    static func key(_ storeCtx: OpaquePointer) -> [UInt8]? {
        guard let leaf = X509_STORE_CTX_get0_cert(storeCtx) else { return nil }
        let untrusted = X509_STORE_CTX_get0_untrusted(storeCtx)
        let extra = untrusted.map { Int(CNSSSL_sk_X509_num($0)) } ?? 0
        var key = [UInt8](repeating: 0, count: 32 * (1 + extra))
        let ok = key.withUnsafeMutableBufferPointer { buffer -> Bool in
            var length: UInt32 = 0
            guard X509_digest(leaf, prefetchedSHA256, buffer.baseAddress, &length) == 1, length == 32 else { return false }
            for i in 0..<extra {
                // SSL puts the leaf first in the untrusted stack too; hashing it again is harmless.
                guard let cert = CNSSSL_sk_X509_value(untrusted, Int32(i)),
                      X509_digest(cert, prefetchedSHA256, buffer.baseAddress! + 32 * (i + 1), &length) == 1 else { return false }
            }
            return true
        }
        return ok ? key : nil
    }

    func lookup(_ key: [UInt8], now: Int64) -> CertificateVerdict? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if entry.expires > now { return entry.verdict }
            entries[key] = nil
            return nil
        }
    }

    /// Remembers an `ok` verdict for the chain OpenSSL just built in `storeCtx`.
    func remember(_ key: [UInt8], verdict: CertificateVerdict, storeCtx: OpaquePointer, now: Int64) {
        guard verdict.reason == .ok, let chain = X509_STORE_CTX_get0_chain(storeCtx) else { return }
        var expires = min(now + Self.lifetime, crlHorizon)
        for i in 0..<CNSSSL_sk_X509_num(chain) {
            guard let cert = CNSSSL_sk_X509_value(chain, i),
                  let notAfter = X509Inspector.date(X509_get0_notAfter(cert)) else { return }
            expires = min(expires, Int64(notAfter.timeIntervalSince1970))
        }
        guard expires > now else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(verdict: verdict, expires: expires)
        }
    }
}

extension ChainVerifier {
    /// `run`, answered from the trust generation's cache when this exact chain was
    /// accepted moments ago. The handshake path uses this; `inspect-cert` always verifies.
    static func cachedRun(_ storeCtx: OpaquePointer, trust: TrustStore) -> CertificateVerdict {
        let now = Int64(time(nil))
        guard let key = VerifiedChainCache.key(storeCtx) else { return run(storeCtx, trust: trust) }
        if let verdict = trust.verifiedChains.lookup(key, now: now) {
            X509_STORE_CTX_set_error(storeCtx, verdict.opensslCode)
            return verdict
        }
        let verdict = run(storeCtx, trust: trust)
        trust.verifiedChains.remember(key, verdict: verdict, storeCtx: storeCtx, now: now)
        return verdict
    }
}
