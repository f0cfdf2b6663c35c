/// Why a trusted list was refused (or could not be read or applied). `code` is stable: it is
/// the log field, the metric label and what tests match; `reason` carries the detail.
/// Equality compares codes only, so a test can expect `.init(.rollback)` without the text.
public struct TrustListError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// The source could not be read (missing file, permission, I/O error).
        case unreadable
        /// The http(s):// source could not be fetched (name, connection, TLS, status, deadline).
        case download
        /// Larger than `max_size`: refused before any parsing.
        case tooLarge = "too_large"
        /// A DOCTYPE (and so any entity declaration): refused before parsing, never resolved.
        case doctype
        /// Not UTF-8, not well-formed XML, or not an ETSI TS 119 612 list.
        case malformed
        /// No ds:Signature on the list.
        case missingSignature = "missing_signature"
        /// A signature that does not cover the whole list and its XAdES SignedProperties
        /// exactly as TS 119 612 5.7 asks (one enveloped signature, two references).
        case signatureCoverage = "signature_coverage"
        /// The signature or a reference digest does not verify: the list was altered.
        case badSignature = "bad_signature"
        /// KeyInfo carries no certificate, or none that `signer_certificates` pins.
        case unpinnedSigner = "unpinned_signer"
        /// The pinned signer certificate is expired or not yet valid.
        case signerNotValid = "signer_not_valid"
        /// Past its NextUpdate (plus the configured grace), or a closed list.
        case pastNextUpdate = "past_next_update"
        /// TSLSequenceNumber lower than the one in use.
        case rollback
        /// Verified, but no service matches the configured types and statuses.
        case emptySelection = "empty_selection"
        /// Writing the CA directory or its manifest failed (the previous list stays).
        case applyFailed = "apply_failed"
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { reason.isEmpty ? code.rawValue : "\(code.rawValue): \(reason)" }
    public static func == (lhs: TrustListError, rhs: TrustListError) -> Bool { lhs.code == rhs.code }
}
