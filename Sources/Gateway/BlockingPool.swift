import Dispatch
import HTTP1
import Synchronization

/// Runs handler work that may block (database I/O, fsync, slow secret hashes) away from
/// the loop threads, at most `width` at a time; the rest queue.
final class BlockingPool: Sendable {
    static let shared = BlockingPool(width: 16)

    private let queue = DispatchQueue(label: "cns-gateway.blocking", attributes: .concurrent)
    private let slots: DispatchSemaphore

    init(width: Int) {
        slots = DispatchSemaphore(value: width)
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        queue.async { [slots] in
            slots.wait()
            defer { slots.signal() }
            work()
        }
    }
}

/// Responses finished on the blocking pool, waiting for their loop thread.
final class Mailbox: Sendable {
    struct Delivery: Sendable {
        var token: UInt64
        var response: HTTPResponse
    }

    private let items = Mutex<[Delivery]>([])

    func post(_ delivery: Delivery) { items.withLock { $0.append(delivery) } }

    func takeAll() -> [Delivery] {
        items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}
