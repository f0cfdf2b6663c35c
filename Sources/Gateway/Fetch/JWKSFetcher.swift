import HTTP1
import OIDC
import Outbound
import Posix

/// A client's JWK Set document, fetched with one strict GET through the outbound stack: once
/// per generation per `jwks_uri`, on the control thread (start and SIGHUP), so blocking is fine.
enum JWKSFetcher {
    static let timeoutSeconds = 5.0
    static let bodyLimit = 65_536

    /// The body of a 200 response; anything else is an error. The URL must pass the rule the
    /// configuration applies to `jwks_uri` (https; http only to a loopback host).
    static func fetch(_ uri: String, timeoutSeconds: Double = timeoutSeconds) throws(FetchError) -> [UInt8] {
        if let problem = RedirectURIRule.problem(uri) { throw FetchError(.url, "jwks_uri: \(problem)") }
        let url = try FetchURL(uri)
        let request = FetchRequest(url: url, headers: [HTTPHeader(name: "Accept", value: "application/json")])
        let options = FetchOptions(deadline: Deadline(after: timeoutSeconds), maxBodyBytes: bodyLimit)
        return try Fetcher.fetch(request, options: options).body
    }
}
