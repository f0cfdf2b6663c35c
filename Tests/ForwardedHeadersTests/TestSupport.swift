@testable import ForwardedHeaders
import HTTP1

/// SplitMix64: a tiny deterministic generator so the property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes standing in for a DER certificate: the parser never looks inside them.
func fakeDER(_ seed: UInt8, count: Int = 700) -> [UInt8] {
    [0x30, 0x82] + (0..<count).map { UInt8(truncatingIfNeeded: Int($0) &* 31 &+ Int(seed)) }
}

func randomBytes(_ rng: inout SplitMix64, count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

func base64(_ bytes: [UInt8]) -> String { Base64Text.encode(bytes) }

/// PEM as OpenSSL writes it: 64-character lines.
func pem(_ der: [UInt8]) -> String {
    let body = Array(base64(der))
    var lines = ["-----BEGIN CERTIFICATE-----"]
    var i = 0
    while i < body.count {
        lines.append(String(body[i..<min(i + 64, body.count)]))
        i += 64
    }
    lines.append("-----END CERTIFICATE-----")
    return lines.joined(separator: "\n") + "\n"
}

/// nginx's `$ssl_client_escaped_cert` (ngx_escape_uri, NGX_ESCAPE_URI_COMPONENT): every byte
/// but the RFC 3986 unreserved ones is %XX.
func urlEscaped(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(Character(Unicode.Scalar(byte)))
        default:
            let hex = Array("0123456789ABCDEF")
            out += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 15)])"
        }
    }
    return out
}

/// What Apache's mod_headers puts in a header for `%{SSL_CLIENT_CERT}s`: line breaks become spaces.
func apacheValue(_ der: [UInt8]) -> String {
    String(pem(der).map { $0 == "\n" ? " " : $0 }).trimmingSpaces()
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

func header(_ name: String, _ value: String) -> HTTPHeader { HTTPHeader(name: name, value: value) }

/// The certificate as each format's proxy would send it.
func encode(_ certificate: ForwardedCertificate, _ format: ForwardedCertificateFormat) -> [HTTPHeader] {
    let fields = ForwardedCertificateFields(format: format)
    switch format {
    case .rfc9440:
        var headers = [header(fields.certificate, ":\(base64(certificate.leaf)):")]
        if !certificate.chain.isEmpty {
            headers.append(header(fields.chain!, certificate.chain.map { ":\(base64($0)):" }.joined(separator: ", ")))
        }
        return headers
    case .nginx:
        return [header(fields.certificate, urlEscaped(pem(certificate.leaf)))]
    case .xfcc:
        let chain = ([certificate.leaf] + certificate.chain).map(pem).joined()
        return [header(fields.certificate,
                       "By=spiffe://gw;Hash=00ff;Cert=\"\(urlEscaped(pem(certificate.leaf)))\";Chain=\"\(urlEscaped(chain))\";Subject=\"CN=x,O=y\";DNS=a;DNS=b")]
    case .apache:
        var headers = [header(fields.certificate, apacheValue(certificate.leaf))]
        for (index, der) in certificate.chain.enumerated() {
            headers.append(header("\(fields.chain!)\(index)", apacheValue(der)))
        }
        headers.append(header("\(fields.chain!)\(certificate.chain.count)", "(null)"))
        return headers
    }
}

func parse(_ headers: [HTTPHeader], _ format: ForwardedCertificateFormat) -> Result<ForwardedCertificate?, ForwardedHeaderError> {
    Result { () throws(ForwardedHeaderError) in try ForwardedCertificateParser.parse(headers, fields: ForwardedCertificateFields(format: format)) }
}

extension Result where Failure == ForwardedHeaderError {
    var errorCode: ForwardedHeaderError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
