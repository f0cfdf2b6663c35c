import Dispatch
import Posix
import Synchronization

/// Runs work that may block (database I/O, fsync, slow secret hashes, OCSP queries) away from
/// the loop threads: `width` threads and a bounded queue. A full queue refuses new work at
/// once, so the caller can answer 503 instead of letting requests pile up; work whose caller
/// gave up (its 503 already sent) is skipped when its turn comes.
public final class BlockingPool: Sendable {
    /// A queued piece of work; `cancel` drops it if it has not started.
    public final class Ticket: Sendable {
        private let cancelled = Atomic<Bool>(false)
        public func cancel() { cancelled.store(true, ordering: .relaxed) }
        public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    }

    private struct Entry: @unchecked Sendable {
        // @unchecked: the closure is @Sendable; the ticket is Sendable.
        let work: @Sendable () -> Void
        let ticket: Ticket
    }

    public let name: String
    public let width: Int
    public let queueLimit: Int
    private let queue = Mutex<[Entry]>([])
    private let available = DispatchSemaphore(value: 0)
    private let running = Atomic<Int>(0)

    public init(name: String, width: Int, queueLimit: Int) {
        precondition(width > 0 && queueLimit > 0)
        self.name = name
        self.width = width
        self.queueLimit = queueLimit
        for index in 0..<width {
            Posix.Thread.start(name: "\(name)-\(index)") { [self] in work() }
        }
    }

    /// Queues `work`; nil when the queue is full.
    public func submit(_ work: @escaping @Sendable () -> Void) -> Ticket? {
        let ticket = Ticket()
        let accepted = queue.withLock { queue in
            guard queue.count < queueLimit else { return false }
            queue.append(Entry(work: work, ticket: ticket))
            return true
        }
        guard accepted else { return nil }
        available.signal()
        return ticket
    }

    /// Work waiting for a thread.
    public var queued: Int { queue.withLock { $0.count } }
    /// Work running now.
    public var busy: Int { running.load(ordering: .relaxed) }

    private func work() {
        while true {
            available.wait()
            guard let entry = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            if entry.ticket.isCancelled { continue }
            running.wrappingAdd(1, ordering: .relaxed)
            entry.work()
            running.wrappingSubtract(1, ordering: .relaxed)
        }
    }
}
