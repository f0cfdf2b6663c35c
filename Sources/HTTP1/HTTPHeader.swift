/// One header field line, name as received (case preserved), value trimmed of OWS.
public struct HTTPHeader: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

extension [HTTPHeader] {
    /// The value of the first field named `name`, compared case-insensitively (RFC 9110 §5.1).
    public func first(named name: String) -> String? {
        first { ASCII.caseInsensitiveEquals($0.name, name) }?.value
    }

    /// Every value of the fields named `name`, in order.
    public func all(named name: String) -> [String] {
        filter { ASCII.caseInsensitiveEquals($0.name, name) }.map(\.value)
    }
}
