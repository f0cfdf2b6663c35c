/// A point on the monotonic clock by which a whole operation (connect, handshake, every read
/// and write of one exchange) must be done. One value carried through all the steps, so a
/// peer that answers each step slowly cannot stretch the total.
public struct Deadline: Sendable, Comparable, CustomStringConvertible {
    /// Monotonic nanoseconds (`Process.monotonicNanoseconds`).
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// `seconds` from now (negative or NaN counts as now).
    public init(after seconds: Double) {
        let now = Process.monotonicNanoseconds()
        let span = seconds.isFinite && seconds > 0 ? UInt64(min(seconds, 1e9) * 1_000_000_000) : 0
        nanoseconds = now &+ span
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var hasPassed: Bool { Process.monotonicNanoseconds() >= nanoseconds }

    /// What is left, rounded up to whole milliseconds (poll would otherwise spin through the
    /// last fraction of a millisecond with a timeout of 0); 0 once passed.
    public var remainingMilliseconds: Int32 {
        let now = Process.monotonicNanoseconds()
        guard now < nanoseconds else { return 0 }
        return Int32(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }

    public var remainingSeconds: Double {
        let now = Process.monotonicNanoseconds()
        return now < nanoseconds ? Double(nanoseconds - now) / 1e9 : 0
    }

    public var description: String { "deadline in \(remainingMilliseconds) ms" }
}
