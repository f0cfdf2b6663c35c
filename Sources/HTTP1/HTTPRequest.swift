/// A parsed HTTP/1.x request; every field is a plain value, so handlers can be tested
/// without sockets by building one with `init(method:target:...)`.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The request-target exactly as received.
    public var target: String
    /// The target's path, up to the first "?"; not percent-decoded. For absolute-form
    /// ("http://host/p") the path part ("/p", or "/" when empty); "*" for asterisk-form.
    public var path: String
    /// Everything after the first "?", nil when there is no "?".
    public var query: String?
    /// The authority of an absolute-form target (RFC 9112 §3.2.2: it overrides Host), else nil.
    public var authority: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(method: String, target: String, versionMinor: Int = 1,
                headers: [HTTPHeader] = [], body: [UInt8] = []) {
        let parts = RequestTarget.split(target)
        self.method = method
        self.target = target
        self.path = parts.path
        self.query = parts.query
        self.authority = parts.authority
        self.versionMinor = versionMinor
        self.headers = headers
        self.body = body
    }

    /// The first header named `name`, compared case-insensitively.
    public func header(_ name: String) -> String? { headers.first(named: name) }

    /// RFC 9112 §9.3: HTTP/1.1 is persistent unless a Connection field carries "close";
    /// HTTP/1.0 only when a Connection field carries "keep-alive" (and none carries "close").
    public var keepAlive: Bool {
        var close = false
        var keep = false
        for value in headers.all(named: "Connection") {
            for option in value.split(separator: ",") {
                let token = ASCII.trimmingOWS(option)
                if ASCII.caseInsensitiveEquals(String(token), "close") { close = true }
                if ASCII.caseInsensitiveEquals(String(token), "keep-alive") { keep = true }
            }
        }
        if close { return false }
        return versionMinor >= 1 || keep
    }

    /// The query decoded as application/x-www-form-urlencoded ("+" is a space, %XX a byte,
    /// invalid UTF-8 replaced by U+FFFD). Use `FormURLEncoding.decodeStrict` where a
    /// malformed parameter must be refused rather than repaired.
    public func queryItems() -> [(name: String, value: String)] {
        guard let query else { return [] }
        return FormURLEncoding.decode(query.utf8)
    }

    /// The body decoded like `queryItems()`; the caller checks Content-Type first.
    public func formItems() -> [(name: String, value: String)] {
        FormURLEncoding.decode(body)
    }
}

/// Splits a request-target into path, query and (for absolute-form) authority.
enum RequestTarget {
    static func split(_ target: String) -> (path: String, query: String?, authority: String?) {
        var rest = Substring(target)
        var authority: String?
        if let schemeEnd = schemeEnd(of: rest) {
            rest = rest[schemeEnd...]
            let end = rest.utf8.firstIndex { $0 == ASCII.slash || $0 == ASCII.question } ?? rest.endIndex
            authority = String(rest[..<end])
            rest = rest[end...]
        }
        let path: Substring
        let query: String?
        if let q = rest.utf8.firstIndex(of: ASCII.question) {
            path = rest[..<q]
            query = String(rest[rest.utf8.index(after: q)...])
        } else {
            path = rest
            query = nil
        }
        if authority != nil && path.isEmpty { return ("/", query, authority) }
        return (String(path), query, authority)
    }

    /// The index just after "http://" or "https://" (scheme case-insensitive), if present.
    static func schemeEnd(of target: Substring) -> String.Index? {
        for scheme in ["http://", "https://"] {
            let u = target.utf8
            guard u.count >= scheme.utf8.count else { continue }
            let end = u.index(u.startIndex, offsetBy: scheme.utf8.count)
            if u[..<end].elementsEqual(scheme.utf8, by: { ASCII.lower($0) == $1 }) { return end }
        }
        return nil
    }
}
