import FoundationEssentials

/// An http:// or https:// URL split the way a request needs it. Userinfo and fragments are
/// refused (a fetch never needs them, and a URL with credentials must not end up in a log).
public struct FetchURL: Sendable, Equatable, CustomStringConvertible {
    public var useTLS: Bool
    /// A name or an IP literal (IPv6 without brackets).
    public var host: String
    public var port: UInt16
    /// Path and query, as sent on the request line.
    public var target: String
    /// The Host header: the port only when it is not the scheme's default.
    public var hostHeader: String

    public init(_ text: String) throws(FetchError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let rawHost = components.host else {
            throw FetchError(.url, "not an absolute http:// or https:// URL")
        }
        guard components.user == nil, components.password == nil else { throw FetchError(.url, "URLs with credentials are refused") }
        guard components.fragment == nil else { throw FetchError(.url, "URLs with a fragment are refused") }
        useTLS = scheme == "https"
        host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let printable: (UInt8) -> Bool = { (0x21...0x7E).contains($0) }
        guard !host.isEmpty, host.utf8.allSatisfy({ printable($0) && !"/?#@[]".utf8.contains($0) }) else {
            throw FetchError(.url, "unusable host")
        }
        let defaultPort: UInt16 = useTLS ? 443 : 80
        if let explicit = components.port {
            guard let valid = UInt16(exactly: explicit), valid > 0 else { throw FetchError(.url, "bad port") }
            port = valid
        } else {
            port = defaultPort
        }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        guard target.hasPrefix("/"), target.utf8.allSatisfy(printable) else { throw FetchError(.url, "unusable path") }
        let bracketed = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// Scheme, host and port only: what a log may show (a path or query may carry a secret).
    public var origin: String { "\(useTLS ? "https" : "http")://\(hostHeader)" }

    public var description: String { "\(origin)\(target)" }
}
