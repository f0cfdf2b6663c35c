import CoreMetrics
import FoundationEssentials
import HTTP1
import Outbound
import Posix
import Synchronization
import TLS

/// Which source decided the revocation part of a card's verdict.
enum RevocationSource: String, Sendable {
    /// The CA's CRL, loaded at the last reload.
    case crl
    /// A responder asked for this login.
    case ocsp
    /// A responder's answer from an earlier login, still current.
    case cache
    /// Nothing: best-effort accepted the card without current revocation data.
    case none
}

/// What asking about one card came to.
enum OCSPOutcome: Sendable, Equatable {
    /// A checked answer, the responder it came from, and whether it came from the cache.
    case answer(OCSPAnswer, responder: String, cached: Bool)
    /// No usable answer: every responder failed, none is known, or the time ran out.
    case failed(String)
}

/// Checked `good` and `revoked` answers, by CertID, process-wide (a reload keeps them: an
/// answer is about a certificate, not about a generation). An entry lasts until the answer's
/// nextUpdate, the card's notAfter or `ocsp_max_cache_time`, whichever comes first; an answer
/// without a nextUpdate (the responder always has newer information) and `unknown` are not
/// kept, nor is a certificateHold (it may be lifted).
final class OCSPCache: Sendable {
    static let shared = OCSPCache()
    static let capacity = 100_000

    private struct Entry {
        var answer: OCSPAnswer
        var responder: String
        var expires: Date
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])

    func lookup(_ question: OCSPQuestion, now: Date) -> (OCSPAnswer, responder: String)? {
        entries.withLock { entries in
            guard let entry = entries[question.certID] else { return nil }
            if entry.expires > now { return (entry.answer, entry.responder) }
            entries[question.certID] = nil
            return nil
        }
    }

    func remember(_ answer: OCSPAnswer, responder: String, for question: OCSPQuestion, maxCacheTime: Double, now: Date) {
        guard let nextUpdate = answer.nextUpdate else { return }
        switch answer.status {
        case .unknown: return
        case .revoked(let reason, _) where reason == 6: return  // certificateHold
        default: break
        }
        var expires = min(nextUpdate, now.addingTimeInterval(maxCacheTime))
        if let notAfter = question.notAfter { expires = min(expires, notAfter) }
        guard expires > now else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[question.certID] = Entry(answer: answer, responder: responder, expires: expires)
        }
    }

    var count: Int { entries.withLock { $0.count } }
}

/// Asks a card's OCSP responders, over the outbound stack. Blocking: only on the blocking
/// pool, never on a loop thread; the whole exchange (every responder tried) is bounded by
/// `ocsp_timeout`.
enum OCSPClient {
    static let maxResponseBytes = 64 << 10

    /// The responders for a question: the configured one for its CA, else the card's AIA.
    static func responders(for question: OCSPQuestion, settings: OCSPSettings) -> [String] {
        if let configured = settings.responders[question.issuerSHA256] { return [configured] }
        return question.responders
    }

    static func ask(_ question: OCSPQuestion, settings: OCSPSettings, cache: OCSPCache = .shared,
                    now: () -> Date = { Date() }) -> OCSPOutcome {
        let urls = responders(for: question, settings: settings)
        guard !urls.isEmpty else {
            return .failed("no OCSP responder known for \(question.issuerSubject) (none in the certificate, none configured)")
        }
        let deadline = Deadline(after: settings.timeout)
        var failures: [String] = []
        for url in urls {
            if deadline.hasPassed {
                failures.append("\(url): no time left")
                break
            }
            let started = Posix.Process.monotonicNanoseconds()
            OCSPMetrics.query(responder: url)
            do throws(OCSPQueryError) {
                let answer = try query(url, question: question, deadline: deadline, now: now())
                OCSPMetrics.answered(responder: url, status: answer.statusName,
                                     nanoseconds: Posix.Process.monotonicNanoseconds() - started)
                cache.remember(answer, responder: url, for: question, maxCacheTime: settings.maxCacheTime, now: now())
                if case .unknown = answer.status {
                    failures.append("\(url): the responder does not know the certificate")
                    continue
                }
                return .answer(answer, responder: url, cached: false)
            } catch {
                OCSPMetrics.failed(responder: url, error: error.label, nanoseconds: Posix.Process.monotonicNanoseconds() - started)
                failures.append("\(url): \(error.reason)")
            }
        }
        return .failed(failures.joined(separator: "; "))
    }

    struct OCSPQueryError: Error {
        var label: String
        var reason: String
    }

    /// One responder: GET when the request fits in a URL (responders and caches in front of
    /// them like it), else POST; the answer checked before it is believed.
    static func query(_ base: String, question: OCSPQuestion, deadline: Deadline, now: Date) throws(OCSPQueryError) -> OCSPAnswer {
        let request: FetchRequest
        do {
            if let segment = question.getPathSegment {
                let url = try FetchURL(base.hasSuffix("/") ? base + segment : base + "/" + segment)
                request = FetchRequest(method: "GET", url: url, headers: [HTTPHeader(name: "Accept", value: "application/ocsp-response")])
            } else {
                request = FetchRequest(method: "POST", url: try FetchURL(base), headers: [
                    HTTPHeader(name: "Content-Type", value: "application/ocsp-request"),
                    HTTPHeader(name: "Accept", value: "application/ocsp-response"),
                ], body: question.requestDER)
            }
        } catch {
            throw OCSPQueryError(label: "url", reason: error.reason)
        }
        let body: [UInt8]
        do {
            body = try Fetcher.fetch(request, options: FetchOptions(deadline: deadline, maxBodyBytes: maxResponseBytes)).body
        } catch {
            throw OCSPQueryError(label: error.code == .timeout ? "timeout" : error.code.rawValue, reason: error.reason)
        }
        do {
            return try question.check(responseDER: body, now: now, skew: OCSPSettings.clockSkew)
        } catch {
            throw OCSPQueryError(label: error.code.rawValue, reason: error.reason)
        }
    }
}

/// Per responder: queries, latency, answers by status, errors by kind. The responders are the
/// bundle CAs' (their AIA, signed by them) or the configuration's, so the label set is bounded.
enum OCSPMetrics {
    static func query(responder: String) {
        Counter(label: "cns_ocsp_queries_total", dimensions: [("responder", responder)]).increment()
    }

    static func answered(responder: String, status: String, nanoseconds: UInt64) {
        Counter(label: "cns_ocsp_responses_total", dimensions: [("responder", responder), ("status", status)]).increment()
        Timer(label: "cns_ocsp_latency_seconds", dimensions: [("responder", responder)]).recordNanoseconds(Int64(nanoseconds))
    }

    static func failed(responder: String, error: String, nanoseconds: UInt64) {
        Counter(label: "cns_ocsp_errors_total", dimensions: [("responder", responder), ("error", error)]).increment()
        Timer(label: "cns_ocsp_latency_seconds", dimensions: [("responder", responder)]).recordNanoseconds(Int64(nanoseconds))
    }

    static func cacheHit() {
        Counter(label: "cns_ocsp_cache_hits_total").increment()
    }
}
