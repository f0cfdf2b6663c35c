import ForwardedHeaders
import HTTP1
import Posix

/// One request on a listener whose card comes from a reverse proxy: whether its
/// forwarded-certificate header may be believed, the card it carries and the citizen's address.
/// A function of values (the request, the peer, the listener's settings), so it is tested
/// without sockets.
enum ForwardedRequest {
    enum Outcome {
        /// Serve it with this card (possibly none) and this client address.
        case accepted(card: ConnectionCard, client: SocketAddress)
        /// Answer 400: `reason` is the log field and the metric label.
        case refused(reason: String, message: String)
    }

    static func read(_ request: HTTPRequest, peer: SocketAddress, listener: ListenerConfig, settings: ForwardedSettings) -> Outcome {
        guard listener.isTrustedProxy(peer) else {
            // Not a proxy of ours: its certificate header would be anyone's word. Refused, not
            // ignored, so a misrouted proxy or a probe shows up in the log and the metric.
            if ForwardedCertificateParser.carriesCertificate(request.headers, fields: settings.fields) {
                return .refused(reason: "untrusted_peer", message: "forwarded client certificate from an address that is not a trusted proxy")
            }
            return .accepted(card: .none(), client: peer)
        }
        let card: ConnectionCard
        do {
            let certificate = try ForwardedCertificateParser.parse(request.headers, fields: settings.fields)
            card = .forwarded(leaf: certificate?.leaf, chain: certificate?.chain ?? [], proxy: peer)
        } catch {
            if error.isAmbiguousRequest { return .refused(reason: error.code.rawValue, message: error.reason) }
            card = .forwarded(leaf: nil, unreadable: error.code.rawValue, proxy: peer)
        }
        return .accepted(card: card, client: client(request, peer: peer, listener: listener, settings: settings))
    }

    /// The right-most address in the proxy's field that is not a trusted proxy; the proxy itself
    /// when the field is absent or names no address there.
    static func client(_ request: HTTPRequest, peer: SocketAddress, listener: ListenerConfig, settings: ForwardedSettings) -> SocketAddress {
        let node = ForwardedClient.client(request.headers, field: settings.clientAddress) { bytes in
            listener.isTrustedProxy(SocketAddress(family: bytes.count == 4 ? .inet : .inet6, bytes: bytes, port: 0))
        }
        guard case .address(let bytes, let port)? = node else { return peer }
        return SocketAddress(family: bytes.count == 4 ? .inet : .inet6, bytes: bytes, port: port ?? 0)
    }
}
