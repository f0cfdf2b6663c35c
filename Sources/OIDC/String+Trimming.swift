/// Foundation's `trimmingCharacters(in:)`, which FoundationEssentials lacks (the daemon does
/// not load libFoundation). Scalar by scalar, as Foundation trims, so a combining mark after
/// a trimmed space stays. Public for Store and Gateway, which import OIDC.
extension StringProtocol {
    public func trimmingScalars(where trim: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !trim($0) }),
              let last = scalars.lastIndex(where: { !trim($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    /// `trimmingCharacters(in: .whitespaces)`.
    public func trimmingWhitespace() -> String { trimmingScalars(where: \.isHorizontalWhitespace) }
}

extension Unicode.Scalar {
    /// Foundation's `CharacterSet.whitespaces`: tab and the space separators (category Zs).
    public var isHorizontalWhitespace: Bool { self == "\t" || properties.generalCategory == .spaceSeparator }

    /// Foundation's `CharacterSet.newlines`: U+000A to U+000D, U+0085, U+2028, U+2029.
    public var isNewlineScalar: Bool {
        switch value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }

    /// Foundation's `CharacterSet.whitespacesAndNewlines`: tab, the space separators
    /// (category Zs) and `isNewlineScalar`.
    public var isWhitespaceOrNewline: Bool { isHorizontalWhitespace || isNewlineScalar }
}
