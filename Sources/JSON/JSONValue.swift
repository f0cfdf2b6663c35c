public import FoundationEssentials

/// A JSON value as plain Sendable data: JWT headers and claims, JWKs, discovery documents,
/// stored claim snapshots. Decoding is strict about types (a JSON `true` is never a number).
public enum JSONValue: Sendable, Equatable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let b = try? container.decode(Bool.self) { self = .bool(b); return }
        if let i = try? container.decode(Int.self) { self = .int(i); return }
        if let d = try? container.decode(Double.self) { self = .double(d); return }
        if let s = try? container.decode(String.self) { self = .string(s); return }
        if let a = try? container.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try container.decode([String: JSONValue].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Compact UTF-8 JSON with sorted keys and unescaped slashes (stable output for tests and signatures).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        JSONText.write(self, into: &out)
        return out
    }

    public var text: String { String(decoding: encoded(), as: UTF8.self) }

    /// `s` as a JSON string literal, escaped as `encoded()` escapes it (log lines use it too).
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        JSONText.writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Indented for people, in the layout Foundation's `JSONSerialization` `.prettyPrinted`
    /// wrote on Linux (`"key" : value`, two spaces a level), so `inspect-cert --json` output
    /// stayed the same when the gateway stopped linking Foundation.
    public var prettyText: String {
        var out: [UInt8] = []
        JSONText.writePretty(self, depth: 0, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict RFC 8259 parsing (see `JSONText`); nil for anything that is not one JSON value.
    public static func decode(_ bytes: some DataProtocol) -> JSONValue? {
        if let value = bytes.withContiguousStorageIfAvailable({ JSONText.parse($0) }) { return value }
        return Array(bytes).withUnsafeBufferPointer { JSONText.parse($0) }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var intValue: Int? {
        switch self {
        case .int(let i): i
        // NumericDate (RFC 7519 section 2) may carry a fraction.
        case .double(let d) where d.isFinite && abs(d) < 1e15: Int(d)
        default: nil
        }
    }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
                     ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
