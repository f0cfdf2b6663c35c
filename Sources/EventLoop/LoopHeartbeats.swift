public import Posix
import Synchronization

/// Proof of life from each event loop, for the systemd watchdog: the control thread pings
/// systemd only while every loop has gone round recently. A loop goes round at least once a
/// second (its poll timeout) even when idle, so a loop silent for `stallAfter` is stuck
/// (a handler that never returns, a deadlock), and systemd restarts the gateway instead of
/// leaving the connections on that loop hanging.
public final class LoopHeartbeats: Sendable {
    public final class Beat: Sendable {
        public let loop: Int
        private let last = Atomic<UInt64>(Process.monotonicNanoseconds())

        init(loop: Int) { self.loop = loop }

        /// Called by the loop each time round.
        public func beat(now: UInt64 = Process.monotonicNanoseconds()) { last.store(now, ordering: .relaxed) }

        var lastBeat: UInt64 { last.load(ordering: .relaxed) }
    }

    public static let stallAfterNanoseconds: UInt64 = 5_000_000_000

    private let beats = Mutex<[Beat]>([])

    public init() {}

    public func register(loop: Int) -> Beat {
        let beat = Beat(loop: loop)
        beats.withLock { $0.append(beat) }
        return beat
    }

    /// The loops (with their silence in seconds) that have not gone round for `stallAfter`.
    public func stalled(now: UInt64 = Process.monotonicNanoseconds(),
                 stallAfter: UInt64 = LoopHeartbeats.stallAfterNanoseconds) -> [(loop: Int, seconds: Double)] {
        beats.withLock { list in
            list.compactMap { beat in
                let last = beat.lastBeat
                guard now > last, now - last >= stallAfter else { return nil }
                return (beat.loop, Double(now - last) / 1e9)
            }
        }
    }
}
