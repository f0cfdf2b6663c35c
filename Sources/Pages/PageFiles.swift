import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The files that make up the page set: the ones in `Resources/`, embedded in the binary, and
/// an administrator's replacements with the same names in the override directory.
///
/// A replacement template or stylesheet replaces the embedded one whole. A replacement strings
/// file is laid over the embedded one key by key, so an administration can change one sentence
/// (say, who to call) and keep the rest; a key the embedded file does not have is an error,
/// because it is almost always a misspelt key that would otherwise be silently ignored.
struct PageFiles: Sendable {
    static let templateNames = ["layout", "landing", "cie", "verifica", "error", "help"]
    static let stylesheetName = "style.css"

    static func stringsName(_ language: PageLanguage) -> String {
        "strings.\(language.rawValue).json"
    }

    static var allNames: [String] {
        templateNames.map { "\($0).html" } + [stylesheetName] + PageLanguage.allCases.map(stringsName)
    }

    let templates: [String: Template]
    let stylesheet: String
    let strings: [PageLanguage: TemplateValue]

    init(overrideDirectory: String?) throws(PageError) {
        let overrides = try Self.readOverrides(overrideDirectory)
        var templates: [String: Template] = [:]
        for name in Self.templateNames {
            let file = "\(name).html"
            templates[name] = try Template(name: file, source: overrides[file] ?? Self.embeddedText(file))
        }
        self.templates = templates
        self.stylesheet = overrides[Self.stylesheetName] ?? Self.embeddedText(Self.stylesheetName)
        var strings: [PageLanguage: TemplateValue] = [:]
        for language in PageLanguage.allCases {
            let file = Self.stringsName(language)
            var table = try Self.decodeStrings(Self.embeddedText(file), file: file)
            if let override = overrides[file] {
                let path = overrideDirectory.map { "\($0)/\(file)" } ?? file
                table = try Self.merge(table, try Self.decodeStrings(override, file: path), path: [], file: path)
            }
            strings[language] = table
        }
        self.strings = strings
    }

    private static func embeddedText(_ name: String) -> String {
        String(decoding: embedded(name), as: UTF8.self)
    }

    private static func embedded(_ name: String) -> [UInt8] {
        switch name {
        case "layout.html": PackageResources.layout_html
        case "landing.html": PackageResources.landing_html
        case "cie.html": PackageResources.cie_html
        case "verifica.html": PackageResources.verifica_html
        case "error.html": PackageResources.error_html
        case "help.html": PackageResources.help_html
        case "style.css": PackageResources.style_css
        case "strings.it.json": PackageResources.strings_it_json
        case "strings.en.json": PackageResources.strings_en_json
        default: preconditionFailure("no embedded page file \(name)")
        }
    }

    /// Only our own file names are read. Anything else that looks like a page file
    /// (`.html`, `.css`, `.json`) is refused: `strings.it.jsn` or `Error.html` would otherwise
    /// be ignored and the administrator left wondering why nothing changed.
    private static func readOverrides(_ directory: String?) throws(PageError) -> [String: String] {
        guard let directory else { return [:] }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw PageError(reason: "pages override directory \(directory): cannot list it (\(systemReason(error)))")
        }
        var files: [String: String] = [:]
        let known = Set(allNames)
        for entry in entries.sorted() {
            let path = "\(directory)/\(entry)"
            guard known.contains(entry) else {
                if [".html", ".css", ".json"].contains(where: entry.lowercased().hasSuffix) {
                    throw PageError(reason: "\(path): not a page file name (expected one of \(allNames.joined(separator: ", ")))")
                }
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PageError(reason: "\(path): cannot be read")
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw PageError(reason: "\(path): not valid UTF-8")
            }
            files[entry] = text
        }
        return files
    }

    /// The system's words for the errno under a FileManager error ("No such file or directory").
    private static func systemReason(_ error: any Error) -> String {
        guard let posix = (error as? CocoaError)?.underlying as? POSIXError else { return "\(error)" }
        return String(cString: strerror(posix.code.rawValue))
    }

    private static func decodeStrings(_ text: String, file: String) throws(PageError) -> TemplateValue {
        let value: TemplateValue
        do {
            value = try JSONDecoder().decode(TemplateValue.self, from: Data(text.utf8))
        } catch {
            throw PageError(reason: "\(file): not a strings file (\(describe(error)))")
        }
        guard case .object = value else {
            throw PageError(reason: "\(file): the top level must be an object")
        }
        return value
    }

    private static func merge(
        _ base: TemplateValue, _ override: TemplateValue, path: [String], file: String
    ) throws(PageError) -> TemplateValue {
        let name = path.isEmpty ? "top level" : path.joined(separator: ".")
        switch (base, override) {
        case (.object(var members), .object(let replacements)):
            for (key, replacement) in replacements.sorted(by: { $0.key < $1.key }) {
                guard let original = members[key] else {
                    throw PageError(reason: "\(file): unknown key \((path + [key]).joined(separator: "."))")
                }
                members[key] = try merge(original, replacement, path: path + [key], file: file)
            }
            return .object(members)
        case (.text, .text), (.list, .list):
            return override
        default:
            throw PageError(reason: "\(file): \(name) must be \(kind(base)), not \(kind(override))")
        }
    }

    private static func kind(_ value: TemplateValue) -> String {
        switch value {
        case .text, .html: "a string"
        case .list: "a list of strings"
        case .object: "an object"
        case .bool: "a boolean"
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
            .keyNotFound(_, let context):
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return (at.isEmpty ? "" : "at \(at): ") + context.debugDescription + underlying
        @unknown default:
            return "\(error)"
        }
    }
}
