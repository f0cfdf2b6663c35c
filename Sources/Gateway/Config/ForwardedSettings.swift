import FoundationEssentials
public import ForwardedHeaders
import Posix
import TLS

/// `client_certificate = "forwarded"`: a reverse proxy terminates the citizen's TLS and
/// forwards the card certificate in a request header. The header is believed only from a
/// peer in `trusted_proxies` that also proved itself with a pinned TLS client certificate
/// (waived only for a proxy on loopback, by name).
public struct ForwardedSettings: Sendable, Equatable {
    public var fields: ForwardedCertificateFields
    /// Where the trusted proxy writes the citizen's address.
    public var clientAddress: ForwardedClientField
    /// SHA-256 of the proxies' TLS client certificates (`proxy_certificates`).
    public var proxyCertificates: Set<[UInt8]>
    /// `allow_unauthenticated_loopback_proxy`: no proxy certificate, the listener may be plain
    /// HTTP; every trusted proxy must then be a loopback address.
    public var unauthenticatedLoopbackProxy: Bool

    /// The `[[listener]]` keys this file reads.
    static let keys: Set<String> = [
        "forwarded_certificate_format", "forwarded_certificate_header", "forwarded_chain_header",
        "forwarded_client_address", "proxy_certificates", "allow_unauthenticated_loopback_proxy",
    ]

    /// Reads the keys of one listener table; nil (and a problem for each key set) unless the
    /// listener's mode is "forwarded".
    static func parse(_ fields: [String: ConfigValue], path: String, forwarded: Bool, reader: ConfigReader) -> ForwardedSettings? {
        guard forwarded else {
            for key in keys.sorted() where fields[key] != nil {
                reader.problem("\(path).\(key)", "only with client_certificate = \"forwarded\"")
            }
            return nil
        }
        let format = ForwardedCertificateFormat(rawValue: reader.choice(
            fields, "forwarded_certificate_format", path: path, default: "rfc9440",
            choices: ForwardedCertificateFormat.allCases.map(\.rawValue))) ?? .rfc9440
        let defaults = ForwardedCertificateFields.defaultNames(format)
        let certificate = reader.string(fields, "forwarded_certificate_header", path: path, default: defaults.certificate) ?? defaults.certificate
        checkFieldName(certificate, keyPath: "\(path).forwarded_certificate_header", reader: reader)
        var chain = defaults.chain
        if fields["forwarded_chain_header"] != nil {
            let text = reader.string(fields, "forwarded_chain_header", path: path, default: "") ?? ""
            if format == .xfcc {
                reader.problem("\(path).forwarded_chain_header", "not with \"xfcc\": the chain is the Chain key of the same header")
            } else if text.isEmpty {
                chain = nil  // the proxy sends no chain
            } else {
                checkFieldName(text, keyPath: "\(path).forwarded_chain_header", reader: reader)
                chain = text
            }
        }
        let client = ForwardedClientField(rawValue: reader.choice(
            fields, "forwarded_client_address", path: path, default: ForwardedClientField.xForwardedFor.rawValue,
            choices: ForwardedClientField.allCases.map(\.rawValue))) ?? .xForwardedFor
        var pins = Set<[UInt8]>()
        let pinEntries = reader.stringArray(fields, "proxy_certificates", path: path, default: [])
        for (i, entry) in pinEntries.enumerated() {
            if let pin = pin(entry, keyPath: "\(path).proxy_certificates[\(i)]", reader: reader) { pins.insert(pin) }
        }
        let waived = reader.bool(fields, "allow_unauthenticated_loopback_proxy", path: path, default: false)
        if pinEntries.isEmpty && !waived {
            reader.problem("\(path).proxy_certificates",
                           "a forwarded listener believes the certificate header only from a proxy that authenticates with a pinned TLS certificate: "
                           + "list its SHA-256 or file (or set allow_unauthenticated_loopback_proxy = true for a proxy on this host)")
        }
        return ForwardedSettings(fields: ForwardedCertificateFields(format: format, certificate: certificate, chain: .some(chain)),
                                 clientAddress: client, proxyCertificates: pins, unauthenticatedLoopbackProxy: waived)
    }

    /// A pin: 64 hex digits (colons allowed) or a certificate file (PEM or DER).
    private static func pin(_ entry: String, keyPath: String, reader: ConfigReader) -> [UInt8]? {
        let hex = entry.replacing(":", with: "").lowercased()
        if hex.utf8.count == 64, hex.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
                index = next
            }
            return bytes
        }
        guard let path = reader.checkPath(entry, keyPath: keyPath, mustBe: .file) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let certificate = try? X509Certificate(pemOrDER: [UInt8](data)) else {
            reader.problem(keyPath, "\(path): not a certificate (PEM or DER) nor a SHA-256 fingerprint")
            return nil
        }
        return certificate.sha256
    }

    /// RFC 9110 §5.1: a field name is a token.
    private static func checkFieldName(_ name: String, keyPath: String, reader: ConfigReader) {
        let allowed = Set("!#$%&'*+-.^_`|~".utf8)
        let valid = !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || allowed.contains(c)
        }
        if !valid { reader.problem(keyPath, "\"\(name)\" is not an HTTP field name") }
    }

    /// 127.0.0.0/8 or ::1.
    static func isLoopback(_ network: IPNetwork) -> Bool {
        if network.bytes.count == 4 { return network.bytes[0] == 127 && network.prefixLength >= 8 }
        return network.bytes == [UInt8](repeating: 0, count: 15) + [1] && network.prefixLength == 128
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        address.family == .inet ? address.bytes[0] == 127 : address.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }
}

/// `public_base_url`: where the citizen's browser reaches a listener, when a proxy puts it
/// elsewhere (another host, a path prefix). Pages build their links from its path, never from
/// the request's Host.
enum PublicBaseURL {
    /// The URL without a trailing slash and its path ("" at the root); nil after a problem.
    static func parse(_ fields: [String: ConfigValue], path: String, reader: ConfigReader) -> (url: String, pathPrefix: String)? {
        guard fields["public_base_url"] != nil, let text = reader.string(fields, "public_base_url", path: path, default: nil) else { return nil }
        var trimmed = text
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let components = URLComponents(string: trimmed), components.scheme?.lowercased() == "https",
              let host = components.host, !host.isEmpty, components.query == nil, components.fragment == nil,
              components.user == nil, components.password == nil else {
            reader.problem("\(path).public_base_url", "\"\(text)\" is not an https:// URL without query or fragment, like \"https://login.example.it/cns\"")
            return nil
        }
        let prefix = components.percentEncodedPath
        // Segment by segment: Foundation's String.contains(_:) would link its ICU (30 MB of the
        // binary, 6 MB of it resident) into the daemon.
        let segments = prefix.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            reader.problem("\(path).public_base_url", "the path \"\(prefix)\" must be plain segments")
            return nil
        }
        return (trimmed, prefix)
    }
}
