import Synchronization

/// Whether the shared store answers, for `/readyz` and the logs. The SQLite store never
/// marks it down (a local file is either there or the process could not start).
public final class StoreHealth: Sendable {
    public static let shared = StoreHealth()

    private struct State {
        var available = true
        var reason: String?
        var observer: (@Sendable (_ available: Bool, _ reason: String?) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    public var isAvailable: Bool { state.withLock { $0.available } }
    public var reason: String? { state.withLock { $0.reason } }

    /// Called (outside the lock) on each transition, e.g. to log it.
    public func observe(_ observer: @escaping @Sendable (_ available: Bool, _ reason: String?) -> Void) {
        state.withLock { $0.observer = observer }
    }

    func markUp() { transition(to: true, reason: nil) }
    func markDown(_ reason: String) { transition(to: false, reason: reason) }

    private func transition(to available: Bool, reason: String?) {
        let observer = state.withLock { s -> (@Sendable (Bool, String?) -> Void)? in
            let changed = s.available != available
            s.available = available
            s.reason = reason
            return changed ? s.observer : nil
        }
        observer?(available, reason)
    }
}
