#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import Metrics
import Posix
import TrustList

/// `[trust_list] source`, followed: on its own thread (a download blocks for seconds), every
/// `refresh_interval` seconds, and sooner with back-off after a refusal or a failed download,
/// the list is fetched, verified and applied as `trust-list import` does; when the CA
/// directory changed it asks for the same reload SIGHUP gives (it signals its own process, so
/// a refresh and an operator's reload never run at the same time). A refused list changes
/// nothing: the last good one stays in use. Reads the current generation's settings each
/// tick, so a reload that changes them takes effect at the next one.
final class TrustListRefresher: Sendable {
    private let shared: SharedState

    private init(shared: SharedState) { self.shared = shared }

    @discardableResult
    static func start(shared: SharedState) -> TrustListRefresher {
        let refresher = TrustListRefresher(shared: shared)
        Posix.Thread.start(name: "cns-tsl-refresh") { refresher.run() }
        return refresher
    }

    /// After a refusal or a failed download: first retry after this many seconds, doubling.
    static let firstRetry: Double = 60

    private func run() {
        let logger = Logger(label: "cns-gateway")
        var schedule = RefreshSchedule(firstRetry: Self.firstRetry)
        var reported: String?
        while !shared.isDraining {
            if let settings = shared.generation.config.trustList, settings.source != nil {
                // The metrics say what is in use from the start, before the first refresh.
                if reported != settings.directory {
                    reported = settings.directory
                    Self.recordInUse(settings)
                }
                if schedule.start(interval: settings.refreshInterval) {
                    let outcome = TrustListUpdate.run(settings, logger: logger)
                    schedule.finished(failed: outcome.error != nil)
                    Self.record(outcome)
                    if case .applied(let applied, _) = outcome,
                       !applied.added.isEmpty || !applied.removed.isEmpty || applied.previousSequenceNumber != applied.manifest.sequenceNumber {
                        logger.info("trust_list_reload", metadata: ["detail": "the CA list changed; reloading as on SIGHUP"])
                        kill(getpid(), SIGHUP)
                    }
                }
            } else {
                schedule.reset()
                reported = nil
            }
            sleep(1)
        }
    }

    private static func recordInUse(_ settings: TrustListSettings) {
        guard let manifest = try? TrustListDirectory(path: settings.directory).manifest() else { return }
        gauges(manifest)
    }

    private static func record(_ outcome: TrustListUpdate.Outcome) {
        switch outcome {
        case .applied(let applied, _):
            Counter(label: "cns_trust_list_refresh_total", dimensions: [("result", "applied")]).increment()
            Gauge(label: "cns_trust_list_last_success_timestamp_seconds").record(Date().timeIntervalSince1970)
            gauges(applied.manifest)
        case .refused(let error, _):
            Counter(label: "cns_trust_list_refresh_total", dimensions: [("result", "refused")]).increment()
            Counter(label: "cns_trust_list_failures_total", dimensions: [("reason", error.code.rawValue)]).increment()
        }
    }

    private static func gauges(_ manifest: TrustListManifest) {
        Gauge(label: "cns_trust_list_sequence_number").record(manifest.sequenceNumber)
        Gauge(label: "cns_trust_list_cas").record(manifest.entries.count)
        if let next = manifest.nextUpdate {
            Gauge(label: "cns_trust_list_next_update_timestamp_seconds").record(next.timeIntervalSince1970)
        }
    }
}
