import CoreMetrics
import FoundationEssentials
import Metrics
import Prometheus
import Synchronization

/// The metrics the admin listener's /metrics page shows (Prometheus text format),
/// recorded through swift-metrics with swift-prometheus as the backend.
enum GatewayMetrics {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Atomic<Bool>(false)

    /// Request latency buckets: a handshake-free request takes tens of microseconds,
    /// a login with a database write milliseconds.
    static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    static func bootstrap() {
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// The routes latency is recorded for; anything else is "other", so a scan of random
    /// paths cannot blow up the label set.
    static func routeLabel(_ path: String) -> String {
        switch path {
        case "/", "/cie", "/verifica", "/healthz", "/readyz", "/whoami", "/metrics", "/authorize", "/token", "/userinfo",
             "/logout", "/jwks", "/introspect", "/revoke", "/.well-known/openid-configuration":
            return path
        default:
            return "other"
        }
    }

    /// The page, with the gauges that are read from shared state refreshed first.
    static func render(shared: SharedState) -> [UInt8] {
        let generation = shared.generation
        let trust = generation.trust
        CoreMetrics.Gauge(label: "cns_open_connections").record(shared.openConnections.load(ordering: .relaxed))
        CoreMetrics.Gauge(label: "cns_trust_ca_certificates").record(trust.caCount)
        CoreMetrics.Gauge(label: "cns_trust_crls").record(trust.crls.count)
        CoreMetrics.Gauge(label: "cns_trust_generation").record(generation.number)
        let now = Date()
        for crl in trust.crls {
            let labels = [("issuer", crl.issuer)]
            if let last = crl.lastUpdate {
                CoreMetrics.Gauge(label: "cns_crl_age_seconds", dimensions: labels).record(now.timeIntervalSince(last))
                CoreMetrics.Gauge(label: "cns_crl_last_update_timestamp_seconds", dimensions: labels).record(last.timeIntervalSince1970)
            }
            if let next = crl.nextUpdate {
                CoreMetrics.Gauge(label: "cns_crl_next_update_timestamp_seconds", dimensions: labels).record(next.timeIntervalSince1970)
            }
            CoreMetrics.Gauge(label: "cns_crl_entries", dimensions: labels).record(crl.entries)
        }
        // Every CA of the bundle: 1 when its revocation data is missing, past nextUpdate
        // (stale), or past the overdue bound (its cards are refused).
        let problems = trust.revocationProblems(at: now)
        let missing = Set(problems.missing.map(\.sha256))
        let stale = Set(problems.stale.map(\.sha256))
        let overdue = Set(problems.overdue.map(\.sha256))
        for authority in trust.authorities {
            let labels = [("issuer", authority.subject), ("ca_sha256", authority.sha256)]
            CoreMetrics.Gauge(label: "cns_ca_crl_missing", dimensions: labels).record(missing.contains(authority.sha256) ? 1 : 0)
            CoreMetrics.Gauge(label: "cns_ca_crl_stale", dimensions: labels).record(stale.contains(authority.sha256) ? 1 : 0)
            CoreMetrics.Gauge(label: "cns_ca_crl_overdue", dimensions: labels).record(overdue.contains(authority.sha256) ? 1 : 0)
        }
        CoreMetrics.Gauge(label: "cns_trust_cas_without_crl").record(problems.missing.count)
        CoreMetrics.Gauge(label: "cns_trust_cas_crl_overdue").record(problems.overdue.count)
        let reload = shared.reloadStatus
        CoreMetrics.Gauge(label: "cns_last_reload_timestamp_seconds").record(reload.time.timeIntervalSince1970)
        CoreMetrics.Gauge(label: "cns_last_reload_success").record(reload.ok ? 1 : 0)
        return registry.emitToBuffer()
    }
}

/// A loop thread's handles to its metrics, created once per label set so the hot path
/// does not go through the factory's lock for every event.
final class MetricsRecorder {
    private var counters: [String: CoreMetrics.Counter] = [:]
    private var timers: [String: Metrics.Timer] = [:]
    private var requestCounters: [RequestKey: CoreMetrics.Counter] = [:]

    private struct RequestKey: Hashable {
        var route: String
        var status: Int
    }

    func handshake(listener: String, outcome: String) {
        counter("cns_tls_handshakes_total", [("listener", listener), ("outcome", outcome)]).increment()
    }

    /// A certificate verdict reached for a connection (one per connection that asked).
    func login(reason: String, issuer: String) {
        counter("cns_logins_total", [("reason", reason), ("issuer", issuer)]).increment()
    }

    /// A request carrying a forwarded certificate refused (`untrusted_peer`, `duplicate_field`),
    /// or a proxy's handshake refused (`proxy_certificate`).
    func forwardedRefused(listener: String, reason: String) {
        counter("cns_forwarded_refused_total", [("listener", listener), ("reason", reason)]).increment()
    }

    /// A loop thread spent its allowance of new connections on `listener` and stopped accepting
    /// there until its next token (`[limits] accept_rate`, `accept_burst`).
    func acceptPaused(listener: String) {
        counter("cns_accept_paused_total", [("listener", listener)]).increment()
    }

    /// Deferred work refused with a 503 because its pool's queue was full (`login`, `back_channel`).
    func backendBusy(pool: String) {
        counter("cns_backend_busy_total", [("pool", pool)]).increment()
    }

    func reload(result: String) {
        counter("cns_reloads_total", [("result", result)]).increment()
    }

    func request(route: String, status: Int, nanoseconds: UInt64) {
        // The per-request path: looked up by a small struct, not a built string.
        let requestKey = RequestKey(route: route, status: status)
        let requests: CoreMetrics.Counter
        if let existing = requestCounters[requestKey] {
            requests = existing
        } else {
            requests = counter("cns_http_requests_total", [("route", route), ("status", String(status))])
            requestCounters[requestKey] = requests
        }
        requests.increment()
        let key = route
        let timer: Metrics.Timer
        if let existing = timers[key] {
            timer = existing
        } else {
            timer = Metrics.Timer(label: "cns_http_request_duration_seconds", dimensions: [("route", route)],
                                  preferredDisplayUnit: .seconds)
            timers[key] = timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        if let existing = counters[key] { return existing }
        let created = CoreMetrics.Counter(label: label, dimensions: dimensions)
        counters[key] = created
        return created
    }
}
