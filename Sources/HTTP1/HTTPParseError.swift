/// Why the request parser refused a request.
///
/// `status` is the response to send before closing the connection; `code` is the stable
/// reason code that feeds the log line, the audit record and the metric label (house rule 6);
/// `reason`, `file` and `line` are detail for the log. Equality compares `status` and `code`
/// only, so tests match codes while logs keep the detail.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidLineEnding = Code("invalid_line_ending")
        public static let emptyLineBeforeRequest = Code("empty_line_before_request")
        public static let invalidRequestLine = Code("invalid_request_line")
        public static let invalidMethod = Code("invalid_method")
        public static let invalidTarget = Code("invalid_target")
        public static let invalidVersion = Code("invalid_version")
        public static let unsupportedVersion = Code("unsupported_version")
        public static let requestLineTooLong = Code("request_line_too_long")
        public static let headerTooLarge = Code("header_too_large")
        public static let obsoleteLineFolding = Code("obsolete_line_folding")
        public static let invalidHeaderName = Code("invalid_header_name")
        public static let invalidHeaderValue = Code("invalid_header_value")
        public static let missingHost = Code("missing_host")
        public static let duplicateHost = Code("duplicate_host")
        public static let invalidHost = Code("invalid_host")
        public static let transferEncodingUnsupported = Code("transfer_encoding_unsupported")
        public static let transferEncodingWithContentLength = Code("transfer_encoding_with_content_length")
        public static let invalidContentLength = Code("invalid_content_length")
        public static let duplicateContentLength = Code("duplicate_content_length")
        public static let bodyTooLarge = Code("body_too_large")
    }

    public var status: Int
    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(status: Int, code: Code, reason: String, file: String = #fileID, line: Int = #line) {
        self.status = status
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: HTTPParseError, rhs: HTTPParseError) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code
    }

    public var description: String { "HTTP \(status) \(code): \(reason) (\(file):\(line))" }
}
