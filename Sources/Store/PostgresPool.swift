import Dispatch
import FoundationEssentials
import OIDC
import Synchronization

/// A small pool of libpq connections: at most `size` open (sized to the blocking pool, so a
/// handler never waits for a connection another handler holds for long), made lazily, and
/// thrown away as soon as libpq says they are broken.
final class PostgresPool: Sendable {
    let target: PostgresTarget
    let health: StoreHealth
    private let slots: DispatchSemaphore
    private let idle = Mutex<[PostgresConnection]>([])
    /// How long a caller waits for a free slot before answering "unavailable".
    let acquireTimeout: Double
    /// When the last new connection failed (seconds since 1970; 0 = never). While the server is
    /// away, requests fail at once instead of each spending up to `connect_timeout` on a
    /// blocking-pool thread; the store's probe keeps trying and reopens the way.
    private let lastConnectFailure = Mutex<Double>(0)
    static let failFastWindow = 1.0

    init(target: PostgresTarget, health: StoreHealth, acquireTimeout: Double = 5) {
        self.target = target
        self.health = health
        self.acquireTimeout = acquireTimeout
        slots = DispatchSemaphore(value: max(1, target.poolSize))
    }

    private func connect() throws(StoreError) -> PostgresConnection {
        var password: String?
        if let file = target.passwordFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw StoreError(code: StoreError.unavailableCode, reason: "\(file): cannot read the database password")
            }
            password = String(decoding: data, as: UTF8.self).trimmingScalars(where: \.isNewlineScalar)
        }
        return try PostgresConnection(keywords: target.keywords(password: password))
    }

    /// Drops every idle connection: after one broke, its siblings (same server) most likely did too.
    func flush() {
        let dropped = idle.withLock { list -> [PostgresConnection] in
            defer { list.removeAll() }
            return list
        }
        _ = dropped  // finished here, outside the lock
    }

    /// Lends one connection to `body`. A failure that leaves the connection broken marks the
    /// store down; the next success marks it up again.
    func withConnection<T>(timeout: Double? = nil, probe: Bool = false, _ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        guard slots.wait(timeout: .now() + (timeout ?? acquireTimeout)) == .success else {
            throw StoreError(code: StoreError.unavailableCode, reason: "no database connection free within \(timeout ?? acquireTimeout) s")
        }
        defer { slots.signal() }
        // A connection that sat idle may have died with a server restart; libpq learns that only
        // when it is used. Such a failure happened before the server saw the statement, so it is
        // retried once on a fresh connection instead of failing a citizen's login.
        if let reused = idle.withLock({ $0.popLast() }) {
            do {
                return try use(reused, body, reportBreak: false)
            } catch where reused.isBroken {
            }
        }
        let connection: PostgresConnection
        if !probe, !health.isAvailable,
           Date().timeIntervalSince1970 - lastConnectFailure.withLock({ $0 }) < Self.failFastWindow {
            throw StoreError(code: StoreError.unavailableCode, reason: health.reason ?? "database unavailable")
        }
        do {
            connection = try connect()
        } catch {
            lastConnectFailure.withLock { $0 = Date().timeIntervalSince1970 }
            health.markDown(error.reason)
            throw error
        }
        return try use(connection, body)
    }

    private func use<T>(_ connection: PostgresConnection, _ body: (PostgresConnection) throws(StoreError) -> T,
                        reportBreak: Bool = true) throws(StoreError) -> T {
        do {
            let result = try body(connection)
            idle.withLock { $0.append(connection) }
            health.markUp()
            return result
        } catch {
            if connection.isBroken {
                flush()
                if reportBreak { health.markDown(error.reason) }
            } else {
                idle.withLock { $0.append(connection) }
            }
            throw error
        }
    }
}
