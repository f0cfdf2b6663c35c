/// A loop thread's allowance of new connections on one listener: a token bucket that `rate`
/// tokens a second refill up to `burst`. Each accepted connection takes one; when none is left
/// the loop stops watching the listener until the next token is due, and the kernel holds new
/// connections in the listen backlog meanwhile (then drops SYNs, which clients retry). So a
/// flood of handshakes costs a loop at most `rate` handshakes a second, and the rest of its
/// time stays with the connections it already serves; a burst of up to `burst` connections
/// (a crowd arriving at once) is taken without delay. Pure: the caller passes the time.
struct AcceptBudget {
    private(set) var tokens: Double
    private var updated: UInt64

    init(burst: Int, now: UInt64) {
        tokens = Double(max(1, burst))
        updated = now
    }

    /// Takes one token; false when none is left. `rate` and `burst` are read each time, so a
    /// reload's new limits apply at once.
    mutating func take(now: UInt64, rate: Double, burst: Int) -> Bool {
        if now > updated {
            tokens = min(Double(max(1, burst)), tokens + Double(now - updated) / 1e9 * rate)
            updated = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Returns a token taken for a connection that was not there after all.
    mutating func giveBack(burst: Int) { tokens = min(Double(max(1, burst)), tokens + 1) }

    /// When the next token is due (monotonic nanoseconds).
    func nextToken(now: UInt64, rate: Double) -> UInt64 {
        guard tokens < 1, rate > 0 else { return now }
        return now + UInt64(((1 - tokens) / rate * 1e9).rounded(.up))
    }
}
