/// JSON text for `JSONValue` without Foundation's Codable machinery, which cost a tenth of a
/// login's CPU (every token, stored code and session passes through here).
///
/// Writing: compact, object keys sorted by their UTF-8 bytes, `/` not escaped, non-ASCII as
/// UTF-8, control characters as `\n`-style or `\u00XX` escapes. Reading (RFC 8259, strict):
/// valid UTF-8 only, no duplicate object keys (a JWT with two `sub` members is refused, not
/// resolved), no trailing bytes, at most `maxDepth` nested arrays and objects. A number without
/// fraction or exponent that fits an Int is `.int`, any other number `.double`.
enum JSONText {
    static let maxDepth = 64

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out += [0x6E, 0x75, 0x6C, 0x6C]
        case .bool(let b): out += b ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65]
        case .int(let i): out += String(i).utf8
        case .double(let d): out += d.isFinite ? Array(d.description.utf8) : [0x6E, 0x75, 0x6C, 0x6C]
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(0x5B)
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(0x2C) }
                write(item, into: &out)
            }
            out.append(0x5D)
        case .object(let members):
            out.append(0x7B)
            for (index, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if index > 0 { out.append(0x2C) }
                writeString(member.key, into: &out)
                out.append(0x3A)
                write(member.value, into: &out)
            }
            out.append(0x7D)
        }
    }

    /// The same values and key order as `write`. Empty containers keep Foundation's blank
    /// line (`[` newline newline indent `]`).
    static func writePretty(_ value: JSONValue, depth: Int, into out: inout [UInt8]) {
        func newline(indent: Int) {
            out.append(0x0A)
            out += repeatElement(0x20, count: 2 * indent)
        }
        switch value {
        case .array(let items):
            out += [0x5B, 0x0A]
            for (index, item) in items.enumerated() {
                if index > 0 { out += [0x2C, 0x0A] }
                out += repeatElement(0x20, count: 2 * (depth + 1))
                writePretty(item, depth: depth + 1, into: &out)
            }
            newline(indent: depth)
            out.append(0x5D)
        case .object(let members):
            out += [0x7B, 0x0A]
            let keys = members.keys.map { ($0, Array($0.utf8)) }.sorted { $0.1.lexicographicallyPrecedes($1.1) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out += [0x2C, 0x0A] }
                out += repeatElement(0x20, count: 2 * (depth + 1))
                writeString(key.0, into: &out)
                out += [0x20, 0x3A, 0x20]
                writePretty(members[key.0]!, depth: depth + 1, into: &out)
            }
            newline(indent: depth)
            out.append(0x7D)
        default:
            write(value, into: &out)
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        for byte in s.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, 0x62]
            case 0x0C: out += [0x5C, 0x66]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20: out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var reader = Reader(bytes: bytes)
        guard let value = reader.value(depth: 0) else { return nil }
        reader.skipWhitespace()
        return reader.index == bytes.count ? value : nil
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }

        mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return nil }
            for k in 0..<count where bytes[index + k] != word.utf8Start[k] { return nil }
            index += count
            return value
        }

        mutating func value(depth: Int) -> JSONValue? {
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case 0x7B: return object(depth: depth + 1)
            case 0x5B: return array(depth: depth + 1)
            case 0x22: return string().map(JSONValue.string)
            case 0x74: return literal("true", .bool(true))
            case 0x66: return literal("false", .bool(false))
            case 0x6E: return literal("null", .null)
            case 0x2D, 0x30...0x39: return number()
            default: return nil
            }
        }

        mutating func object(depth: Int) -> JSONValue? {
            guard depth <= JSONText.maxDepth else { return nil }
            index += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == 0x7D { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == 0x22, let key = string() else { return nil }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == 0x3A else { return nil }
                index += 1
                guard let member = value(depth: depth), members.updateValue(member, forKey: key) == nil else { return nil }
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == 0x2C { index += 1; continue }
                if bytes[index] == 0x7D { index += 1; return .object(members) }
                return nil
            }
        }

        mutating func array(depth: Int) -> JSONValue? {
            guard depth <= JSONText.maxDepth else { return nil }
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == 0x5D { index += 1; return .array(items) }
            while true {
                guard let item = value(depth: depth) else { return nil }
                items.append(item)
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == 0x2C { index += 1; continue }
                if bytes[index] == 0x5D { index += 1; return .array(items) }
                return nil
            }
        }

        mutating func number() -> JSONValue? {
            let start = index
            var integral = true
            if bytes[index] == 0x2D { index += 1 }
            guard index < bytes.count else { return nil }
            if bytes[index] == 0x30 {
                index += 1
            } else if (0x31...0x39).contains(bytes[index]) {
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            } else {
                return nil
            }
            if index < bytes.count, bytes[index] == 0x2E {
                integral = false
                index += 1
                let digits = index
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
                let digits = index
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, let i = Int(text) { return .int(i) }
            guard let d = Double(text), d.isFinite else { return nil }
            return .double(d)
        }

        /// A string starting at the opening quote; nil on bad escapes, raw control characters
        /// or invalid UTF-8 (lone surrogates included).
        mutating func string() -> String? {
            index += 1
            var out: [UInt8] = []
            var plain = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0x22 {
                    out += UnsafeBufferPointer(rebasing: bytes[plain..<index])
                    index += 1
                    return String(validating: out, as: UTF8.self)
                }
                if byte < 0x20 { return nil }
                if byte != 0x5C { index += 1; continue }
                out += UnsafeBufferPointer(rebasing: bytes[plain..<index])
                index += 1
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case 0x22, 0x5C, 0x2F: out.append(escape)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out += Array(String(Character(unicode)).utf8)
                default: return nil
                }
                plain = index
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let digit: UInt8
                switch c {
                case 0x30...0x39: digit = c - 0x30
                case 0x61...0x66: digit = c - 0x61 + 10
                case 0x41...0x46: digit = c - 0x41 + 10
                default: return nil
                }
                v = v << 4 | UInt32(digit)
                index += 1
            }
            return v
        }
    }
}
