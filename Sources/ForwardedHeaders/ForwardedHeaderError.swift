/// Why a header an HTTP reverse proxy forwarded could not be read. `code` is the stable reason
/// for logs and metrics (the `detail` of a `malformed_certificate` verdict); equality compares
/// it only, so tests match codes and logs keep the detail.
public struct ForwardedHeaderError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A single-valued field (the leaf certificate, a numbered chain field) came more than
        /// once: which copy the proxy wrote cannot be told, so the request is refused (400).
        public static let duplicateField = Code("duplicate_field")
        /// RFC 9440: not an RFC 8941 byte sequence `:base64:` (or a list of them).
        public static let notByteSequence = Code("not_byte_sequence")
        public static let badBase64 = Code("bad_base64")
        /// A `%` not followed by two hex digits in URL-escaped PEM (nginx, Envoy).
        public static let badPercentEncoding = Code("bad_percent_encoding")
        /// No `-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----` block, or text around it.
        public static let badPEM = Code("bad_pem")
        /// A certificate of zero bytes.
        public static let emptyCertificate = Code("empty_certificate")
        /// More certificates than `ForwardedCertificateParser.maxChainLength`.
        public static let chainTooLong = Code("chain_too_long")
        /// Envoy's x-forwarded-client-cert does not follow its element;key=value grammar.
        public static let xfccSyntax = Code("xfcc_syntax")
        /// The proxy's x-forwarded-client-cert element has neither `Cert` nor `Chain`.
        public static let xfccNoCertificate = Code("xfcc_no_certificate")
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// The request itself is ambiguous (answer 400), rather than the certificate unreadable.
    public var isAmbiguousRequest: Bool { code == .duplicateField }

    public static func == (lhs: ForwardedHeaderError, rhs: ForwardedHeaderError) -> Bool { lhs.code == rhs.code }

    public var description: String { "\(code): \(reason) (\(file):\(line))" }
}
