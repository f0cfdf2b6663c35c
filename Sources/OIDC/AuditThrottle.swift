import Synchronization

/// Keeps the audit trail of failures nobody authenticated for (a wrong client secret, an
/// unknown client id, a request without a card, an unregistered redirect URI...) from filling
/// the disk: anyone can cause those, thousands a second. Logins and token issuance never pass
/// through here; they stay one durable record each.
///
/// Per event and reason code, the first `perWindow` records of each `window` are written as
/// they come (so the trail keeps real examples, with their addresses); the rest are counted,
/// and when the window has passed one summary record says how many there were (`repeated`).
/// Memory is bounded by the number of distinct (event, reason) pairs, which are the gateway's
/// own codes, capped at `maxKeys` anyway. Pure: the caller passes the time.
public final class AuditThrottle: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Records written one by one per (event, reason) and window; 0 writes none, only summaries.
        public var perWindow: Int
        /// Seconds.
        public var window: Double
        public var maxKeys: Int

        public init(perWindow: Int = 20, window: Double = 60, maxKeys: Int = 256) {
            self.perWindow = perWindow
            self.window = window
            self.maxKeys = maxKeys
        }
    }

    struct Key: Hashable {
        var event: String
        var reason: String
    }

    struct Counter {
        var started: Double
        var written: Int
        var suppressed: Int
        /// Unix milliseconds of the last suppressed record.
        var lastSuppressed: Int64
    }

    public let settings: Settings
    private let counters = Mutex<[Key: Counter]>([:])

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Whether `record` is written now, and the summaries of windows that have ended, to write
    /// with it (oldest first).
    public func admit(_ record: AuditRecord, now: Double) -> (write: Bool, summaries: [AuditRecord]) {
        counters.withLock { counters in
            var summaries = Self.ended(&counters, now: now, window: settings.window)
            var key = Key(event: record.event, reason: record.reason)
            if counters[key] == nil && counters.count >= settings.maxKeys {
                // Never reached with the gateway's own codes; a bound all the same.
                key = Key(event: record.event, reason: "other")
            }
            var counter = counters[key] ?? Counter(started: now, written: 0, suppressed: 0, lastSuppressed: 0)
            if now >= counter.started + settings.window {
                if let summary = Self.summary(key, counter) { summaries.append(summary) }
                counter = Counter(started: now, written: 0, suppressed: 0, lastSuppressed: 0)
            }
            let write = counter.written < settings.perWindow
            if write {
                counter.written += 1
            } else {
                counter.suppressed += 1
                counter.lastSuppressed = record.time
            }
            counters[key] = counter
            return (write, summaries)
        }
    }

    /// The summaries of every window that has ended by `now` (the purge calls it, so counts do
    /// not wait for the next failure of the same kind).
    public func flush(now: Double) -> [AuditRecord] {
        counters.withLock { Self.ended(&$0, now: now, window: settings.window) }
    }

    private static func ended(_ counters: inout [Key: Counter], now: Double, window: Double) -> [AuditRecord] {
        var summaries: [AuditRecord] = []
        for (key, counter) in counters where now >= counter.started + window {
            if let summary = summary(key, counter) { summaries.append(summary) }
            counters[key] = nil
        }
        return summaries.sorted { $0.time < $1.time }
    }

    private static func summary(_ key: Key, _ counter: Counter) -> AuditRecord? {
        guard counter.suppressed > 0 else { return nil }
        return AuditRecord(time: counter.lastSuppressed, clientAddress: "", clientID: "", reason: key.reason, event: key.event,
                           repeated: counter.suppressed)
    }
}
