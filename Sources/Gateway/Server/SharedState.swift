import FoundationEssentials
import Posix
import Synchronization

/// The outcome of the last load or reload, shown on /healthz until a good reload.
struct ReloadStatus: Sendable {
    var ok: Bool
    var time: Date
    var error: String?
}

/// State shared by the loop threads and the control thread.
final class SharedState: Sendable {
    private let current: Mutex<Generation>
    private let reload: Mutex<ReloadStatus>
    private let perClient = Mutex<[[UInt8]: Int]>([:])
    let draining = Atomic<Bool>(false)
    let openConnections = Atomic<Int>(0)
    /// Loop threads that have stopped accepting (draining).
    let drainingLoops = Atomic<Int>(0)

    init(generation: Generation) {
        current = Mutex(generation)
        reload = Mutex(ReloadStatus(ok: true, time: generation.loadedAt, error: nil))
    }

    var generation: Generation { current.withLock { $0 } }
    var reloadStatus: ReloadStatus { reload.withLock { $0 } }

    func install(_ generation: Generation) {
        current.withLock { $0 = generation }
        reload.withLock { $0 = ReloadStatus(ok: true, time: Date(), error: nil) }
    }

    func recordFailedReload(_ message: String) {
        reload.withLock { $0 = ReloadStatus(ok: false, time: Date(), error: message) }
    }

    var isDraining: Bool { draining.load(ordering: .acquiring) }

    /// Takes a slot in the global connection limit; false when full.
    func admitConnection(limit: Int) -> Bool {
        let now = openConnections.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            openConnections.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseConnection() { openConnections.wrappingSubtract(1, ordering: .relaxed) }

    /// Takes a slot in the per-client limit for `address`: its IP, or its /64 for IPv6
    /// (`SocketAddress.clientKey`).
    func admitClient(_ address: SocketAddress, limit: Int) -> Bool {
        let key = address.clientKey
        return perClient.withLock { counts in
            let count = counts[key, default: 0]
            if count >= limit { return false }
            counts[key] = count + 1
            return true
        }
    }

    func releaseClient(_ address: SocketAddress) {
        let key = address.clientKey
        perClient.withLock { counts in
            let count = (counts[key] ?? 1) - 1
            if count <= 0 { counts[key] = nil } else { counts[key] = count }
        }
    }
}

/// A bound listening socket. Bound once at start; its TLS settings come from the
/// generation current when a connection is accepted.
struct BoundListener: Sendable {
    let index: Int
    let name: String
    let fd: Int32
    let address: SocketAddress
    /// The plain-HTTP admin listener (/metrics, /healthz, /readyz).
    var admin = false
}
