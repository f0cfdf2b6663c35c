import Posix
import Synchronization

/// Remembers failed client authentications at `/token`, `/introspect` and `/revoke`, per
/// registered client id and per source address, so a flood of wrong secrets is answered 429
/// before the PBKDF2 of a person-chosen secret runs again (Provider+ClientAuth.swift decides
/// what runs past the limit). Pure: the caller passes the time; nothing here does I/O.
///
/// Each key has a leaky bucket: a failure adds one, and `window` seconds drain `limit`
/// failures, so up to `limit` failures pass in a burst and then one per `window / limit`
/// seconds. A key is limited while its bucket is full.
///
/// Memory stays bounded whatever an attacker sends: client ids are counted only when they are
/// registered ones (the caller passes nil for an unknown id), and sources live in two
/// generations of at most `maxSources / 2` entries each; when the newer one fills, the older is
/// dropped whole (what an address did more than a generation ago is forgotten, O(1) per call).
/// An IPv6 client counts by its /64, which one customer or host usually holds whole.
public final class ClientAuthLimiter: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Failed authentications per source (an IPv4 address, an IPv6 /64) before 429.
        public var perSource: Int
        /// Failed authentications per registered client id, from all sources together.
        public var perClient: Int
        /// Seconds over which `perSource` (and `perClient`) failures are forgiven.
        public var window: Double
        public var maxSources: Int

        public init(perSource: Int = 10, perClient: Int = 30, window: Double = 60, maxSources: Int = 65_536) {
            self.perSource = perSource
            self.perClient = perClient
            self.window = window
            self.maxSources = maxSources
        }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Refused until `retryAfter` seconds have passed (at least 1).
        case limited(retryAfter: Int)
    }

    struct Bucket {
        var level: Double
        var updated: Double

        /// The level drained to `now`.
        func level(at now: Double, drainPerSecond: Double) -> Double {
            max(0, level - max(0, now - updated) * drainPerSecond)
        }
    }

    struct State {
        var newer: [[UInt8]: Bucket] = [:]
        var older: [[UInt8]: Bucket] = [:]
        var clients: [String: Bucket] = [:]
    }

    public let settings: Settings
    private let state = Mutex(State())

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// The key a source address counts under: its 4 bytes, or the first 8 bytes (the /64) of
    /// an IPv6 address (an IPv4-mapped one counts as IPv4); text that is no address counts as itself.
    public static func sourceKey(_ address: String) -> [UInt8] {
        guard let bytes = SocketAddress.parseIP(address) else { return [0] + Array(address.utf8.prefix(64)) }
        return SocketAddress(family: bytes.count == 4 ? .inet : .inet6, bytes: bytes, port: 0).clientKey
    }

    /// Whether another attempt from `source` for `clientID` (a registered id, or nil) may run.
    public func check(source: [UInt8], clientID: String?, now: Double) -> Decision {
        state.withLock { s in
            var wait = 0.0
            if let bucket = s.newer[source] ?? s.older[source] {
                wait = max(wait, Self.wait(bucket, limit: settings.perSource, window: settings.window, now: now))
            }
            if let clientID, let bucket = s.clients[clientID] {
                wait = max(wait, Self.wait(bucket, limit: settings.perClient, window: settings.window, now: now))
            }
            return wait > 0 ? .limited(retryAfter: max(1, Int(wait.rounded(.up)))) : .allowed
        }
    }

    /// Counts one failed authentication from `source` for `clientID` (a registered id, or nil).
    public func recordFailure(source: [UInt8], clientID: String?, now: Double) {
        state.withLock { s in
            let sourceDrain = Double(settings.perSource) / settings.window
            var bucket = s.newer[source] ?? s.older[source] ?? Bucket(level: 0, updated: now)
            bucket.level = bucket.level(at: now, drainPerSecond: sourceDrain) + 1
            bucket.updated = now
            s.older[source] = nil
            if s.newer[source] == nil && s.newer.count >= max(1, settings.maxSources / 2) {
                s.older = s.newer
                s.newer = [:]
            }
            s.newer[source] = bucket
            if let clientID {
                let clientDrain = Double(settings.perClient) / settings.window
                var client = s.clients[clientID] ?? Bucket(level: 0, updated: now)
                client.level = client.level(at: now, drainPerSecond: clientDrain) + 1
                client.updated = now
                s.clients[clientID] = client
            }
        }
    }

    /// Sources tracked now (for tests and the memory bound).
    public var trackedSources: Int { state.withLock { $0.newer.count + $0.older.count } }

    /// Seconds until the bucket has room for one more failure; 0 when it has now.
    static func wait(_ bucket: Bucket, limit: Int, window: Double, now: Double) -> Double {
        let drain = Double(limit) / window
        let level = bucket.level(at: now, drainPerSecond: drain)
        return level + 1 > Double(limit) ? (level + 1 - Double(limit)) / drain : 0
    }
}
