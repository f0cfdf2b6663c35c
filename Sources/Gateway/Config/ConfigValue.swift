import FoundationEssentials
import TOMLKit

/// A TOML document as plain values, so the strict reader below does not depend on the
/// TOML library's types.
indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])
    case other(String)

    static func parseTOML(_ text: String) throws -> ConfigValue {
        let table = try TOMLTable(string: text)
        return convert(table)
    }

    private static func convert(_ table: TOMLTable) -> ConfigValue {
        var result: [String: ConfigValue] = [:]
        for key in table.keys {
            if let value = table[key] { result[key] = convert(value) }
        }
        return .table(result)
    }

    private static func convert(_ value: TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .int(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .table: return value.table.map { convert($0) } ?? .table([:])
        case .array: return .array(value.array.map { array in array.map { convert($0) } } ?? [])
        default: return .other("\(value.type)")
        }
    }

    var typeName: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .other(let name): "a \(name)"
        }
    }
}

/// Reads config tables strictly and collects every problem with its key path.
final class ConfigReader {
    let file: String
    let baseDirectory: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String, baseDirectory: String) {
        self.file = file
        self.baseDirectory = baseDirectory
    }

    func problem(_ keyPath: String, _ message: String) {
        problems.append(ConfigProblem(file: file, keyPath: keyPath, message: message))
    }

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The fields of a table, reporting keys that are not in `allowed`.
    func table(_ value: ConfigValue, path: String, allowed: Set<String>) -> [String: ConfigValue] {
        guard case .table(let fields) = value else {
            problem(path, "must be a table, found \(value.typeName)")
            return [:]
        }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            problem(join(path, key), "unknown key")
        }
        return fields
    }

    func optionalTable(_ fields: [String: ConfigValue], _ key: String, allowed: Set<String>) -> [String: ConfigValue]? {
        guard let value = fields[key] else { return nil }
        return table(value, path: key, allowed: allowed)
    }

    func requiredTable(_ fields: [String: ConfigValue], _ key: String, allowed: Set<String>) -> [String: ConfigValue]? {
        guard let value = fields[key] else {
            problem(key, "missing required table [\(key)]")
            return nil
        }
        return table(value, path: key, allowed: allowed)
    }

    func tableArray(_ fields: [String: ConfigValue], _ key: String) -> [ConfigValue] {
        guard let value = fields[key] else { return [] }
        guard case .array(let items) = value else {
            problem(key, "must be an array of tables ([[\(key)]]), found \(value.typeName)")
            return []
        }
        return items
    }

    func string(_ fields: [String: ConfigValue], _ key: String, path: String, default value: String?) -> String? {
        guard let found = fields[key] else {
            if value == nil { problem(join(path, key), "missing required key") }
            return value
        }
        guard case .string(let s) = found else {
            problem(join(path, key), "must be a string, found \(found.typeName)")
            return value
        }
        return s
    }

    func choice(_ fields: [String: ConfigValue], _ key: String, path: String, default value: String, choices: [String]) -> String {
        let s = string(fields, key, path: path, default: value) ?? value
        guard choices.contains(s) else {
            problem(join(path, key), "\"\(s)\" is not one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))")
            return value
        }
        return s
    }

    func bool(_ fields: [String: ConfigValue], _ key: String, path: String, default value: Bool) -> Bool {
        guard let found = fields[key] else { return value }
        guard case .bool(let b) = found else {
            problem(join(path, key), "must be true or false, found \(found.typeName)")
            return value
        }
        return b
    }

    func int(_ fields: [String: ConfigValue], _ key: String, path: String, default value: Int, range: ClosedRange<Int>) -> Int {
        guard let found = fields[key] else { return value }
        guard case .int(let i) = found else {
            problem(join(path, key), "must be an integer, found \(found.typeName)")
            return value
        }
        guard range.contains(i) else {
            problem(join(path, key), "\(i) is outside \(range.lowerBound)...\(range.upperBound)")
            return value
        }
        return i
    }

    func double(_ fields: [String: ConfigValue], _ key: String, path: String, default value: Double, range: ClosedRange<Double>) -> Double {
        guard let found = fields[key] else { return value }
        let d: Double
        switch found {
        case .double(let v): d = v
        case .int(let v): d = Double(v)
        default:
            problem(join(path, key), "must be a number of seconds, found \(found.typeName)")
            return value
        }
        guard range.contains(d) else {
            problem(join(path, key), "\(d) is outside \(range.lowerBound)...\(range.upperBound)")
            return value
        }
        return d
    }

    func stringArray(_ fields: [String: ConfigValue], _ key: String, path: String, default value: [String]) -> [String] {
        guard let found = fields[key] else { return value }
        guard case .array(let items) = found else {
            problem(join(path, key), "must be an array of strings, found \(found.typeName)")
            return value
        }
        var result: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                problem("\(join(path, key))[\(i)]", "must be a string, found \(item.typeName)")
                continue
            }
            result.append(s)
        }
        return result
    }

    enum PathKind { case file, directory, fileOrDirectory }

    /// A path value resolved against the config's directory; it must exist.
    func path(_ fields: [String: ConfigValue], _ key: String, path: String, required: Bool, mustBe kind: PathKind) -> String? {
        guard let raw = string(fields, key, path: path, default: required ? nil : "") else { return nil }
        if raw.isEmpty {
            if required, fields[key] != nil { problem(join(path, key), "must not be empty") }
            return nil
        }
        return checkPath(raw, keyPath: join(path, key), mustBe: kind)
    }

    func checkPath(_ raw: String, keyPath: String, mustBe kind: PathKind) -> String? {
        let resolved = raw.hasPrefix("/") ? raw : "\(baseDirectory)/\(raw)"
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            problem(keyPath, "\(resolved): no such file")
            return nil
        }
        if kind == .file && isDirectory {
            problem(keyPath, "\(resolved): is a directory, expected a file")
            return nil
        }
        if kind == .directory && !isDirectory {
            problem(keyPath, "\(resolved): is not a directory")
            return nil
        }
        guard FileManager.default.isReadableFile(atPath: resolved) else {
            problem(keyPath, "\(resolved): not readable")
            return nil
        }
        return resolved
    }
}
