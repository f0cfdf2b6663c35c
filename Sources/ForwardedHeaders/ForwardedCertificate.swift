public import HTTP1

/// How a reverse proxy that terminated the citizen's TLS passes the card certificate on.
public enum ForwardedCertificateFormat: String, Sendable, CaseIterable {
    /// RFC 9440: `Client-Cert: :<base64 DER>:` and `Client-Cert-Chain: :<DER>:, :<DER>:`
    /// (RFC 8941 byte sequences). HAProxy: `:%[ssl_c_der,base64]:`.
    case rfc9440
    /// nginx's `$ssl_client_escaped_cert`: the leaf as URL-escaped PEM.
    case nginx
    /// Envoy's `x-forwarded-client-cert`: `Cert` (URL-escaped PEM leaf) and `Chain` (URL-escaped
    /// PEM, leaf first) in the element the trusted proxy added.
    case xfcc
    /// Apache mod_ssl's `SSL_CLIENT_CERT` and `SSL_CLIENT_CERT_CHAIN_n` put in headers by
    /// mod_headers (PEM whose line breaks became spaces; `(null)` when there is none).
    case apache
}

/// Which request fields carry the certificate, as configured for one listener.
public struct ForwardedCertificateFields: Sendable, Equatable {
    public var format: ForwardedCertificateFormat
    /// The field with the leaf (for `xfcc`, the whole x-forwarded-client-cert field).
    public var certificate: String
    /// The certificates the client sent after its own: `rfc9440` a list field, `nginx` a field of
    /// URL-escaped PEM blocks, `apache` the prefix of numbered fields (`<prefix>0`, `<prefix>1`, …,
    /// read up to the first absent or `(null)` one);
    /// nil for `xfcc` (the chain is the element's `Chain`) or when the proxy sends none.
    public var chain: String?

    public init(format: ForwardedCertificateFormat, certificate: String? = nil, chain: String?? = .none) {
        let defaults = Self.defaultNames(format)
        self.format = format
        self.certificate = certificate ?? defaults.certificate
        switch chain {
        case .none: self.chain = defaults.chain
        case .some(let value): self.chain = value
        }
    }

    /// The field names the proxies' documented configurations use.
    public static func defaultNames(_ format: ForwardedCertificateFormat) -> (certificate: String, chain: String?) {
        switch format {
        case .rfc9440: ("Client-Cert", "Client-Cert-Chain")
        case .nginx: ("X-SSL-Client-Cert", nil)
        case .xfcc: ("X-Forwarded-Client-Cert", nil)
        case .apache: ("X-SSL-Client-Cert", "X-SSL-Client-Cert-Chain-")
        }
    }
}

/// The certificate a proxy forwarded: DER bytes, not yet parsed as X.509 (that, and whether
/// the bytes are a certificate at all, is the chain verifier's to judge).
public struct ForwardedCertificate: Sendable, Equatable {
    public var leaf: [UInt8]
    /// In the order the proxy gave them, the leaf left out.
    public var chain: [[UInt8]]

    public init(leaf: [UInt8], chain: [[UInt8]] = []) {
        self.leaf = leaf
        self.chain = chain
    }
}

/// Reads the forwarded client certificate out of a request's header fields: bytes in, DER
/// values or a typed error out, no I/O.
public enum ForwardedCertificateParser {
    /// Certificates the client may have sent after its own; a CNS chain has one or two. The TLS
    /// listeners verify at most 8 deep, the same bound.
    public static let maxChainLength = 8

    /// True when the request carries any of the fields (whatever their values): on a listener
    /// that takes the certificate from a proxy, such a request from anyone else is refused.
    public static func carriesCertificate(_ headers: [HTTPHeader], fields: ForwardedCertificateFields) -> Bool {
        headers.contains { header in
            if equalsIgnoringCase(header.name, fields.certificate) { return true }
            guard let chain = fields.chain else { return false }
            if fields.format == .apache { return hasPrefixIgnoringCase(header.name, chain) }
            return equalsIgnoringCase(header.name, chain)
        }
    }

    /// The certificate, nil when the proxy says the client presented none (the field absent;
    /// for nginx and Apache also empty or `(null)`).
    public static func parse(_ headers: [HTTPHeader], fields: ForwardedCertificateFields) throws(ForwardedHeaderError) -> ForwardedCertificate? {
        switch fields.format {
        case .rfc9440: return try rfc9440(headers, fields)
        case .nginx: return try nginx(headers, fields)
        case .xfcc: return try xfcc(headers, fields)
        case .apache: return try apache(headers, fields)
        }
    }

    // MARK: the formats

    private static func rfc9440(_ headers: [HTTPHeader], _ fields: ForwardedCertificateFields) throws(ForwardedHeaderError) -> ForwardedCertificate? {
        guard let leafText = try single(headers, fields.certificate) else {
            if let chain = fields.chain, !headers.all(named: chain).isEmpty {
                throw ForwardedHeaderError(.notByteSequence, "\(chain) without \(fields.certificate)")
            }
            return nil
        }
        let leaf = try StructuredFieldBytes.item(Array(leafText.utf8))
        var chain: [[UInt8]] = []
        if let chainField = fields.chain {
            // RFC 9110 §5.3: the field lines of a list field are one list, joined by commas.
            let lines = headers.all(named: chainField)
            if !lines.isEmpty {
                chain = try StructuredFieldBytes.list(Array(lines.joined(separator: ", ").utf8), limit: maxChainLength)
            }
        }
        return ForwardedCertificate(leaf: leaf, chain: chain)
    }

    private static func nginx(_ headers: [HTTPHeader], _ fields: ForwardedCertificateFields) throws(ForwardedHeaderError) -> ForwardedCertificate? {
        guard let leafText = try single(headers, fields.certificate), !leafText.isEmpty else { return nil }
        let leaf = try PEMText.certificates(PercentText.decode(leafText.utf8), limit: 1)
        var chain: [[UInt8]] = []
        if let chainField = fields.chain, let chainText = try single(headers, chainField), !chainText.isEmpty {
            chain = try PEMText.certificates(PercentText.decode(chainText.utf8), limit: maxChainLength)
        }
        return ForwardedCertificate(leaf: leaf[0], chain: chain)
    }

    private static func xfcc(_ headers: [HTTPHeader], _ fields: ForwardedCertificateFields) throws(ForwardedHeaderError) -> ForwardedCertificate? {
        let lines = headers.all(named: fields.certificate)
        if lines.isEmpty { return nil }
        let pairs = try XFCCElement.lastElement(Array(lines.joined(separator: ",").utf8))
        let certs = pairs.filter { $0.key == "cert" }
        let chains = pairs.filter { $0.key == "chain" }
        guard certs.count <= 1, chains.count <= 1 else {
            throw ForwardedHeaderError(.xfccSyntax, "Cert or Chain twice in the proxy's element")
        }
        var chain: [[UInt8]] = []
        if let text = chains.first?.value {
            // Chain is the whole chain, the leaf first.
            chain = try PEMText.certificates(PercentText.decode(text), limit: maxChainLength + 1)
        }
        let leaf: [UInt8]
        if let text = certs.first?.value {
            leaf = try PEMText.certificates(PercentText.decode(text), limit: 1)[0]
        } else if let first = chain.first {
            leaf = first
        } else {
            throw ForwardedHeaderError(.xfccNoCertificate, "the proxy's element has neither Cert nor Chain")
        }
        if chain.first == leaf { chain.removeFirst() }
        if chain.count > maxChainLength { throw ForwardedHeaderError(.chainTooLong, "more than \(maxChainLength) certificates in the chain") }
        return ForwardedCertificate(leaf: leaf, chain: chain)
    }

    private static func apache(_ headers: [HTTPHeader], _ fields: ForwardedCertificateFields) throws(ForwardedHeaderError) -> ForwardedCertificate? {
        guard let leafText = try single(headers, fields.certificate), !isApacheEmpty(leafText) else { return nil }
        let leaf = try PEMText.certificates(Array(leafText.utf8), limit: 1)[0]
        var chain: [[UInt8]] = []
        if let prefix = fields.chain {
            // SSL_CLIENT_CERT_CHAIN_0, _1, ...: one field each, `(null)` past the end.
            var numbered: [Int: String] = [:]
            for header in headers where hasPrefixIgnoringCase(header.name, prefix) {
                let suffix = header.name.utf8.dropFirst(prefix.utf8.count)
                guard !suffix.isEmpty, suffix.count <= 3, suffix.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let index = Int(String(decoding: suffix, as: UTF8.self)) else {
                    continue  // another field that happens to share the prefix
                }
                if numbered[index] != nil { throw ForwardedHeaderError(.duplicateField, "more than one \(header.name) field") }
                numbered[index] = header.value
            }
            // From 0 up to the first absent or `(null)` field, as mod_ssl numbers them: a field
            // past that gap was not written by the proxy's configuration.
            var index = 0
            while let text = numbered[index], !isApacheEmpty(text) {
                if index == maxChainLength {
                    throw ForwardedHeaderError(.chainTooLong, "more than \(maxChainLength) certificates in the chain")
                }
                chain.append(try PEMText.certificates(Array(text.utf8), limit: 1)[0])
                index += 1
            }
        }
        return ForwardedCertificate(leaf: leaf, chain: chain)
    }

    // MARK: helpers

    /// The value of a field that may appear once; nil when absent.
    private static func single(_ headers: [HTTPHeader], _ name: String) throws(ForwardedHeaderError) -> String? {
        let values = headers.all(named: name)
        if values.count > 1 { throw ForwardedHeaderError(.duplicateField, "more than one \(name) field") }
        return values.first
    }

    /// mod_headers writes `(null)` for an unset SSL variable.
    private static func isApacheEmpty(_ text: String) -> Bool { text.isEmpty || text == "(null)" }

    static func hasPrefixIgnoringCase(_ name: String, _ prefix: String) -> Bool {
        let n = name.utf8, p = prefix.utf8
        guard n.count >= p.count else { return false }
        return zip(n, p).allSatisfy { lower($0) == lower($1) }
    }

    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && hasPrefixIgnoringCase(a, b)
    }

    static func lower(_ c: UInt8) -> UInt8 { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c }
}
