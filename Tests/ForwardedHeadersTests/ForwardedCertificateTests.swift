@testable import ForwardedHeaders
import HTTP1
import Testing

/// Each format as its proxy writes it, what each refuses and why, and the fields that name
/// the certificate but are not ours to read.
@Suite struct ForwardedCertificateTests {
    let leaf = fakeDER(1)
    let intermediate = fakeDER(2, count: 900)

    @Test(arguments: ForwardedCertificateFormat.allCases)
    func theLeafAloneRoundTrips(format: ForwardedCertificateFormat) throws {
        let sent = ForwardedCertificate(leaf: leaf)
        #expect(try parse(encode(sent, format), format).get() == sent)
    }

    @Test(arguments: [ForwardedCertificateFormat.rfc9440, .xfcc, .apache])
    func theChainRoundTrips(format: ForwardedCertificateFormat) throws {
        let sent = ForwardedCertificate(leaf: leaf, chain: [intermediate, fakeDER(3, count: 1200)])
        #expect(try parse(encode(sent, format), format).get() == sent)
    }

    @Test(arguments: ForwardedCertificateFormat.allCases)
    func noFieldMeansNoCertificate(format: ForwardedCertificateFormat) throws {
        #expect(try parse([header("Host", "x"), header("X-Forwarded-For", "192.0.2.1")], format).get() == nil)
        #expect(!ForwardedCertificateParser.carriesCertificate([header("Host", "x")], fields: ForwardedCertificateFields(format: format)))
    }

    @Test func apacheNullAndNginxEmptyMeanNoCertificate() throws {
        #expect(try parse([header("X-SSL-Client-Cert", "(null)"), header("X-SSL-Client-Cert-Chain-0", "(null)")], .apache).get() == nil)
        #expect(try parse([header("X-SSL-Client-Cert", "")], .nginx).get() == nil)
    }

    @Test func rfc9440ByteSequenceSyntax() throws {
        let b64 = base64(leaf)
        func one(_ value: String) -> Result<ForwardedCertificate?, ForwardedHeaderError> { parse([header("Client-Cert", value)], .rfc9440) }
        #expect(try one(":\(b64):").get()?.leaf == leaf)
        // Parameters are allowed and ignored (RFC 8941 §4.2).
        #expect(try one(":\(b64):;a=1;b=\"x;y\";c;d=?1;e=:AAAA:").get()?.leaf == leaf)
        // Padding may be missing (RFC 8941 §3.3.5).
        #expect(try one(":\(b64.filter { $0 != "=" }):").get()?.leaf == leaf)
        #expect(one(b64).errorCode == .notByteSequence)
        #expect(one(":\(b64)").errorCode == .notByteSequence)
        #expect(one(":\(b64): x").errorCode == .notByteSequence)
        #expect(one(":\(b64.dropLast(3))!:").errorCode == .badBase64)
        #expect(one(":A:").errorCode == .badBase64)
        #expect(one(":AA=A:").errorCode == .badBase64)
        #expect(one("::").errorCode == .emptyCertificate)
        #expect(one("").errorCode == .notByteSequence)
        #expect(one("-----BEGIN CERTIFICATE-----").errorCode == .notByteSequence)
        #expect(one(":\(b64):;A=1").errorCode == .notByteSequence)
    }

    @Test func rfc9440ChainAcrossFieldLines() throws {
        let headers = [header("Client-Cert", ":\(base64(leaf)):"), header("Client-Cert-Chain", ":\(base64(intermediate)):"),
                       header("client-cert-chain", ":\(base64(leaf)):")]
        #expect(try parse(headers, .rfc9440).get()?.chain == [intermediate, leaf])
        let trailing = [header("Client-Cert", ":\(base64(leaf)):"), header("Client-Cert-Chain", ":\(base64(intermediate)):,")]
        #expect(parse(trailing, .rfc9440).errorCode == .notByteSequence)
        let orphan = [header("Client-Cert-Chain", ":\(base64(intermediate)):")]
        #expect(parse(orphan, .rfc9440).errorCode == .notByteSequence)
    }

    @Test(arguments: ForwardedCertificateFormat.allCases.filter { $0 != .xfcc })
    func twoLeafFieldsAreAmbiguous(format: ForwardedCertificateFormat) throws {
        let headers = encode(ForwardedCertificate(leaf: leaf), format) + encode(ForwardedCertificate(leaf: fakeDER(9)), format).prefix(1)
        let result = parse(headers, format)
        #expect(result.errorCode == .duplicateField)
        if case .failure(let error) = result { #expect(error.isAmbiguousRequest) }
    }

    @Test func xfccTakesTheLastElement() throws {
        let client = "Cert=\"\(urlEscaped(pem(fakeDER(7))))\""
        let proxy = "By=spiffe://proxy;Cert=\"\(urlEscaped(pem(leaf)))\""
        // A client-written element first (APPEND_FORWARD), in the same line or an earlier one.
        #expect(try parse([header("x-forwarded-client-cert", "\(client),\(proxy)")], .xfcc).get()?.leaf == leaf)
        #expect(try parse([header("x-forwarded-client-cert", client), header("X-Forwarded-Client-Cert", proxy)], .xfcc).get()?.leaf == leaf)
        // Quoted commas, semicolons and escaped quotes do not split elements.
        let quoted = "Subject=\"CN=a, O=\\\"b;c\\\"\";Cert=\"\(urlEscaped(pem(leaf)))\""
        #expect(try parse([header("x-forwarded-client-cert", "\(client),\(quoted)")], .xfcc).get()?.leaf == leaf)
        // Unquoted URL-escaped PEM (no , ; = left after escaping) is fine too.
        #expect(try parse([header("x-forwarded-client-cert", "Cert=\(urlEscaped(pem(leaf)))")], .xfcc).get()?.leaf == leaf)
        // Chain alone: its first certificate is the leaf.
        let chainOnly = "Chain=\"\(urlEscaped(pem(leaf) + pem(intermediate)))\""
        #expect(try parse([header("x-forwarded-client-cert", chainOnly)], .xfcc).get() == ForwardedCertificate(leaf: leaf, chain: [intermediate]))
    }

    @Test func xfccRefusals() {
        func xfcc(_ value: String) -> ForwardedHeaderError.Code? { parse([header("x-forwarded-client-cert", value)], .xfcc).errorCode }
        #expect(xfcc("By=spiffe://proxy;Hash=00") == .xfccNoCertificate)
        #expect(xfcc("Cert=\"\(urlEscaped(pem(leaf)))") == .xfccSyntax)
        #expect(xfcc("Cert") == .xfccSyntax)
        #expect(xfcc("") == .xfccSyntax)
        #expect(xfcc("Cert=a=b") == .xfccSyntax)
        #expect(xfcc("Cert=\"x\"y") == .xfccSyntax)
        #expect(xfcc("By=a;") == .xfccSyntax)
        #expect(xfcc("Cert=%ZZ") == .badPercentEncoding)
        #expect(xfcc("Cert=abc") == .badPEM)
        let twice = "Cert=\"\(urlEscaped(pem(leaf)))\";Cert=\"\(urlEscaped(pem(leaf)))\""
        #expect(xfcc(twice) == .xfccSyntax)
    }

    @Test func pemRefusals() throws {
        func nginx(_ text: String) -> ForwardedHeaderError.Code? { parse([header("X-SSL-Client-Cert", urlEscaped(text))], .nginx).errorCode }
        let good = pem(leaf)
        #expect(nginx("garbage" + good) == .badPEM)
        #expect(nginx(good + "garbage") == .badPEM)
        #expect(nginx(String(good.dropLast(26))) == .badPEM)
        #expect(nginx(good + good) == .chainTooLong, "the nginx leaf field holds one certificate")
        #expect(nginx(good.replacingFirst("MII", with: "M!I")) == .badBase64)
        #expect(nginx("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n") == .emptyCertificate)
        #expect(nginx("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") == .badPEM)
        #expect(parse([header("X-SSL-Client-Cert", "%2")], .nginx).errorCode == .badPercentEncoding)
        #expect(parse([header("X-SSL-Client-Cert", "%G0")], .nginx).errorCode == .badPercentEncoding)
        // A literal '+' is base64's, not a space: escaping is not form encoding.
        let plus = pem([0xfb, 0xef, 0xff, 0xfb])
        #expect(plus.contains("+"))
        #expect(try parse([header("X-SSL-Client-Cert", plus.replacingFirst("\n", with: "%0A"))], .nginx).get()?.leaf == [0xfb, 0xef, 0xff, 0xfb])
    }

    @Test(arguments: ForwardedCertificateFormat.allCases.filter { $0 != .nginx })
    func aChainOfHundredIsRefused(format: ForwardedCertificateFormat) {
        let chain = (0..<100).map { fakeDER(UInt8($0), count: 40) }
        #expect(parse(encode(ForwardedCertificate(leaf: leaf, chain: chain), format), format).errorCode == .chainTooLong)
        let longest = Array(chain.prefix(ForwardedCertificateParser.maxChainLength))
        #expect((try? parse(encode(ForwardedCertificate(leaf: leaf, chain: longest), format), format).get())??.chain == longest)
    }

    @Test func apacheNumberedFields() throws {
        let fields = ForwardedCertificateFields(format: .apache)
        // Order by number, not by field order; other fields sharing the prefix are not ours.
        let headers = [header("X-SSL-Client-Cert", apacheValue(leaf)), header("X-SSL-Client-Cert-Chain-1", apacheValue(fakeDER(5))),
                       header("x-ssl-client-cert-chain-0", apacheValue(intermediate)), header("X-SSL-Client-Cert-Chain-2", "(null)"),
                       header("X-SSL-Client-Cert-Chain-Note", "hello")]
        #expect(try ForwardedCertificateParser.parse(headers, fields: fields)?.chain == [intermediate, fakeDER(5)])
        let twice = [header("X-SSL-Client-Cert", apacheValue(leaf)), header("X-SSL-Client-Cert-Chain-0", apacheValue(intermediate)),
                     header("X-SSL-Client-Cert-Chain-0", apacheValue(intermediate))]
        #expect(parse(twice, .apache).errorCode == .duplicateField)
        // A field past the first gap is not the proxy's: ignored.
        let gap = [header("X-SSL-Client-Cert", apacheValue(leaf)), header("X-SSL-Client-Cert-Chain-0", "(null)"),
                   header("X-SSL-Client-Cert-Chain-1", apacheValue(intermediate)), header("X-SSL-Client-Cert-Chain-3", apacheValue(intermediate))]
        #expect(try parse(gap, .apache).get()?.chain == [])
        let all = [header("X-SSL-Client-Cert", apacheValue(leaf))] + (0...8).map { header("X-SSL-Client-Cert-Chain-\($0)", apacheValue(intermediate)) }
        #expect(parse(all, .apache).errorCode == .chainTooLong)
    }

    @Test func configuredNamesAndPresence() throws {
        let fields = ForwardedCertificateFields(format: .rfc9440, certificate: "X-Card", chain: .some(nil))
        #expect(fields.chain == nil)
        let headers = [header("x-card", ":\(base64(leaf)):"), header("Client-Cert", ":\(base64(fakeDER(8))):")]
        #expect(try ForwardedCertificateParser.parse(headers, fields: fields)?.leaf == leaf)
        #expect(ForwardedCertificateParser.carriesCertificate([header("X-CARD", "")], fields: fields))
        #expect(!ForwardedCertificateParser.carriesCertificate([header("X-Cardholder", "")], fields: fields))
        let apache = ForwardedCertificateFields(format: .apache)
        #expect(ForwardedCertificateParser.carriesCertificate([header("x-ssl-client-cert-chain-3", "(null)")], fields: apache))
        let rfc = ForwardedCertificateFields(format: .rfc9440)
        #expect(ForwardedCertificateParser.carriesCertificate([header("CLIENT-CERT-CHAIN", ":AA==:")], fields: rfc))
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}
