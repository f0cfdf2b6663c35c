import Crypto
import FoundationEssentials

/// `prompt=login` and `max_age` (OIDC Core section 3.1.2.1) ask for a card signature newer than
/// the request. The card signs only in the TLS handshake, and the login listeners never resume
/// TLS sessions, so a new connection means a new signature. When a browser reuses an older
/// keep-alive connection, the provider answers with a redirect to the same request plus
/// `Connection: close`: the worker closes the connection and the browser's next one makes the
/// card sign again. A browser keeps several idle connections per host (six in Chromium and
/// Firefox) and may follow the redirect on another old one, so each redirect closes one and
/// counts; the count travels in a MAC'd marker with the time of the first redirect, and at
/// `maxReconnects` the login is refused instead: no loop.
extension Provider {
    static let reauthParameter = "cns_reauth"
    /// A connection's first request follows its handshake by a moment (more when the blocking
    /// pool is busy); a handshake this much older than the request still belongs to it.
    static let handshakeSlack: Int64 = 2_000
    /// How long after the redirect its marker is honoured, in milliseconds.
    static let reauthMarkerLifetime: Int64 = 120_000
    /// One more than the idle connections a browser keeps per host.
    static let maxReconnects = 7

    enum HandshakeFreshness: Equatable {
        case fresh
        /// Redirect here with `Connection: close`.
        case reconnect(String)
        /// Still too old after the reconnect redirect: refuse rather than loop.
        case stale
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Whether a handshake at `handshake` (Unix ms) may authenticate `request` as a new login.
    func handshakeFreshness(_ request: AuthorizationRequest, handshake: Int64) -> HandshakeFreshness {
        let now = nowMilliseconds
        var notBefore: Int64?
        if request.prompt.contains("login") { notBefore = now - Self.handshakeSlack }
        if let maxAge = request.maxAge {
            let limit = now - max(Self.handshakeSlack, Int64(min(maxAge, Int(Int32.max))) * 1000)
            notBefore = max(notBefore ?? limit, limit)
        }
        guard var required = notBefore else { return .fresh }
        var issued = now
        var count = 0
        if let marker = request.parameters.first(where: { $0.0 == Self.reauthParameter })?.1 {
            // Forged or expired: judged without it, and never redirected again.
            guard let (time, reconnects) = reauthMarkerValue(marker, clientID: request.client.id), time <= now,
                  now - time <= Self.reauthMarkerLifetime else {
                return handshake >= required ? .fresh : .stale
            }
            // Any handshake after our first redirect is the new signature we asked for.
            required = min(required, time)
            issued = time
            count = reconnects
        }
        if handshake >= required { return .fresh }
        if count >= Self.maxReconnects { return .stale }
        var parameters = request.parameters.filter { $0.0 != Self.reauthParameter }
        parameters.append((Self.reauthParameter, reauthMarker(issued: issued, reconnects: count + 1, clientID: request.client.id)))
        return .reconnect(configuration.loginBaseURL + Endpoint.authorize.rawValue + "?" + FormEncoder.encode(parameters))
    }

    /// `<unix ms of the first redirect>.<redirects so far>.<MAC>`: the MAC keeps a browser (or
    /// whoever edits the URL) from back-dating it to make an old handshake look new, or from
    /// resetting the count. Keyed from the pairwise salt, so every instance sharing the keys accepts it.
    func reauthMarker(issued: Int64, reconnects: Int, clientID: String) -> String {
        "\(issued).\(reconnects)." + Base64URL.encode(reauthMAC(issued: issued, reconnects: reconnects, clientID: clientID))
    }

    func reauthMarkerValue(_ marker: String, clientID: String) -> (issued: Int64, reconnects: Int)? {
        let parts = marker.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].utf8.count <= 15, parts[1].utf8.count <= 2,
              parts[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let issued = Int64(parts[0]), issued > 0, let reconnects = Int(parts[1]),
              let mac = Base64URL.decode(String(parts[2])) else { return nil }
        let expected = reauthMAC(issued: issued, reconnects: reconnects, clientID: clientID)
        guard mac.count == expected.count else { return nil }
        // Constant time: the comparison must not tell how much of a forged MAC was right.
        var difference: UInt8 = 0
        for (a, b) in zip(mac, expected) { difference |= a ^ b }
        return difference == 0 ? (issued, reconnects) : nil
    }

    private func reauthMAC(issued: Int64, reconnects: Int, clientID: String) -> [UInt8] {
        let key = SymmetricKey(data: SHA256.hash(data: Array("cns-gateway reauth\u{0}".utf8) + pairwiseSalt))
        let message = Array("\(clientID)\u{0}\(issued)\u{0}\(reconnects)".utf8)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key)).prefix(16).map { $0 }
    }
}
