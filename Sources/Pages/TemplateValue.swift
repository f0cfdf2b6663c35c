/// What a template can show. Only `.html` is written out as it is, and only the renderer makes
/// one (from markup it built itself or from the administrator's CSS file): anything that came
/// from a request, a certificate or a strings file is `.text` and is always escaped, whatever
/// the template says. A restyled template therefore cannot un-escape a certificate subject.
indirect enum TemplateValue: Sendable, Equatable {
    case text(String)
    case html(String)
    case bool(Bool)
    case list([TemplateValue])
    case object([String: TemplateValue])

    /// Whether `{{#name}}` shows its content.
    var isTruthy: Bool {
        switch self {
        case .text(let text), .html(let text): !text.isEmpty
        case .bool(let value): value
        case .list(let items): !items.isEmpty
        case .object: true
        }
    }

    subscript(key: String) -> TemplateValue? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    /// `a.b.c` walked from this value.
    func value(at path: ArraySlice<String>) -> TemplateValue? {
        var current: TemplateValue? = self
        for key in path {
            current = current?[key]
        }
        return current
    }

    /// A text value for an optional string: nil and "" both become "absent".
    static func optionalText(_ text: String?) -> TemplateValue? {
        guard let text, !text.isEmpty else { return nil }
        return .text(text)
    }
}

/// The strings files hold objects, strings and lists of strings: nothing else, so a number or a
/// boolean in an administrator's edit is a load error that names the key.
extension TemplateValue: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else if let items = try? container.decode([String].self) {
            self = .list(items.map(TemplateValue.text))
        } else if let members = try? container.decode([String: TemplateValue].self) {
            self = .object(members)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a string, a list of strings or an object")
        }
    }
}
