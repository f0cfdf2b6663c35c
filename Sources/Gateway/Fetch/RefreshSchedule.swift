import Posix

/// When a background refresh (CRLs, the trusted list) runs next: at once the first time,
/// then every `interval` seconds; after a failure sooner, with back-off: `firstRetry`
/// seconds, doubling each time it fails again, never more than the interval. A refresh that
/// was turned off and on again starts over.
struct RefreshSchedule {
    let firstRetry: Double
    private var lastRun: UInt64?
    private var failures = 0

    init(firstRetry: Double) { self.firstRetry = firstRetry }

    /// Seconds to wait after the last run, given the outcomes so far.
    func wait(interval: Double) -> Double {
        guard failures > 0 else { return interval }
        let backoff = firstRetry * Double(1 << min(failures - 1, 20))
        return min(interval, backoff)
    }

    /// True when a run with this interval is due at `now` (monotonic seconds); marks it started.
    mutating func start(interval: Double, now: UInt64 = Process.monotonicNanoseconds() / 1_000_000_000) -> Bool {
        if let lastRun, Double(now - lastRun) < wait(interval: interval) { return false }
        lastRun = now
        return true
    }

    mutating func finished(failed: Bool) { failures = failed ? failures + 1 : 0 }

    /// The refresh was turned off: the next time it is on, it runs at once.
    mutating func reset() {
        lastRun = nil
        failures = 0
    }

    var consecutiveFailures: Int { failures }
}
