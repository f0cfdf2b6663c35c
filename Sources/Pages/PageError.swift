/// Why the page set could not be loaded: an override file that does not parse, an unknown
/// string key, a template section left open. Raised by `PageRenderer.init` only, so an
/// administrator's restyling mistake stops the start (or the reload) instead of showing
/// citizens a broken page. Equality compares only `reason`.
public struct PageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var fileID: String
    public var line: Int

    public init(reason: String, fileID: String = #fileID, line: Int = #line) {
        self.reason = reason
        self.fileID = fileID
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.reason == rhs.reason
    }

    public var description: String {
        "\(reason) (\(fileID):\(line))"
    }
}
