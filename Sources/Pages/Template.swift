/// A logic-less template, a small subset of Mustache so that administrators who know it feel
/// at home:
/// - `{{a.b}}` the value at that path, HTML-escaped unless the renderer marked it as markup;
///   `{{.}}` the current item of a list.
/// - `{{#a}}…{{/a}}` shown when `a` is a non-empty string or list, `true` or an object; over a
///   list, shown once per item with the item as `.`. `{{^a}}…{{/a}}` shown when `a` is not.
/// - `{{>name}}` another template of the set (`name.html`).
/// - `{{! comment }}` dropped.
/// Parsed once, when the page set is loaded; a syntax error is a `PageError` naming file and line.
struct Template: Sendable {
    indirect enum Node: Sendable {
        case literal(String)
        case variable(path: [String], line: Int)
        case section(path: [String], inverted: Bool, children: [Node])
        case partial(name: String, line: Int)
    }

    let name: String
    let nodes: [Node]

    init(name: String, source: String) throws(PageError) {
        self.name = name
        self.nodes = try TemplateParser(name: name, source: source).parse()
    }

    /// Deep enough for a layout holding a page holding a help block; a partial that includes
    /// itself stops here instead of recursing forever.
    static let maximumPartialDepth = 8

    struct Context {
        var stack: [TemplateValue]
        let partials: [String: Template]
        /// `file:line: path` of every variable that resolved to nothing printable: the page set
        /// is rejected at load time when its sample pages have any.
        var problems: [String] = []
        var depth = 0
    }

    func render(_ context: inout Context) -> String {
        var output = ""
        render(nodes, &context, into: &output)
        return output
    }

    private func render(_ nodes: [Node], _ context: inout Context, into output: inout String) {
        for node in nodes {
            switch node {
            case .literal(let text):
                output += text
            case .variable(let path, let line):
                switch Self.lookup(path, in: context.stack) {
                case .text(let text)?: escapeHTML(text, into: &output)
                case .html(let html)?: output += html
                default: context.problems.append("\(name):\(line): {{\(Self.display(path))}} has no text")
                }
            case .section(let path, let inverted, let children):
                let value = Self.lookup(path, in: context.stack)
                let truthy = value?.isTruthy ?? false
                if inverted {
                    if !truthy { render(children, &context, into: &output) }
                } else if case .list(let items)? = value {
                    for item in items {
                        context.stack.append(item)
                        render(children, &context, into: &output)
                        context.stack.removeLast()
                    }
                } else if truthy, let value {
                    context.stack.append(value)
                    render(children, &context, into: &output)
                    context.stack.removeLast()
                }
            case .partial(let partialName, let line):
                guard let partial = context.partials[partialName] else {
                    context.problems.append("\(name):\(line): no template \(partialName).html for {{>\(partialName)}}")
                    continue
                }
                guard context.depth < Self.maximumPartialDepth else {
                    context.problems.append("\(name):\(line): {{>\(partialName)}} nested too deep (a loop?)")
                    continue
                }
                context.depth += 1
                partial.render(partial.nodes, &context, into: &output)
                context.depth -= 1
            }
        }
    }

    /// Mustache's rule: the first key is looked up from the innermost context outwards, the
    /// rest is walked inside whatever the first key found.
    private static func lookup(_ path: [String], in stack: [TemplateValue]) -> TemplateValue? {
        guard let first = path.first else { return stack.last }
        for frame in stack.reversed() {
            if let found = frame[first] {
                return found.value(at: path.dropFirst())
            }
        }
        return nil
    }

    static func display(_ path: [String]) -> String {
        path.isEmpty ? "." : path.joined(separator: ".")
    }
}

private struct TemplateParser {
    let name: String
    let source: String

    private struct OpenSection {
        var path: [String]
        var inverted: Bool
        var line: Int
        var children: [Template.Node] = []
    }

    func parse() throws(PageError) -> [Template.Node] {
        var root: [Template.Node] = []
        var open: [OpenSection] = []
        var line = 1
        var rest = Substring(source)

        func append(_ node: Template.Node) {
            if open.isEmpty { root.append(node) } else { open[open.count - 1].children.append(node) }
        }

        while !rest.isEmpty {
            guard let start = rest.firstRange(of: "{{") else {
                append(.literal(String(rest)))
                break
            }
            let literal = rest[..<start.lowerBound]
            if !literal.isEmpty { append(.literal(String(literal))) }
            line += literal.count(where: { $0 == "\n" })
            let afterOpen = rest[start.upperBound...]
            guard let end = afterOpen.firstRange(of: "}}") else {
                throw PageError(reason: "\(name):\(line): `{{` is never closed with `}}`")
            }
            let tag = afterOpen[..<end.lowerBound]
            let tagLine = line
            line += tag.count(where: { $0 == "\n" })
            rest = afterOpen[end.upperBound...]

            let body = tag.trimmed(of: " \t\n")
            guard let sigil = body.first else {
                throw PageError(reason: "\(name):\(tagLine): empty tag `{{}}`")
            }
            switch sigil {
            case "!":
                continue
            case "#", "^":
                open.append(OpenSection(path: try path(body.dropFirst(), tagLine), inverted: sigil == "^", line: tagLine))
            case "/":
                let closing = try path(body.dropFirst(), tagLine)
                guard let section = open.popLast() else {
                    throw PageError(reason: "\(name):\(tagLine): {{/\(Template.display(closing))}} closes nothing")
                }
                guard section.path == closing else {
                    throw PageError(reason: "\(name):\(tagLine): {{/\(Template.display(closing))}} closes "
                        + "{{#\(Template.display(section.path))}} opened on line \(section.line)")
                }
                append(.section(path: section.path, inverted: section.inverted, children: section.children))
            case ">":
                let partial = body.dropFirst().trimmed(of: " \t\n")
                guard !partial.isEmpty, partial.allSatisfy(Self.isNameCharacter) else {
                    throw PageError(reason: "\(name):\(tagLine): bad template name in {{\(body)}}")
                }
                append(.partial(name: String(partial), line: tagLine))
            default:
                append(.variable(path: try path(Substring(body), tagLine), line: tagLine))
            }
        }
        if let unclosed = open.last {
            throw PageError(reason: "\(name):\(unclosed.line): {{#\(Template.display(unclosed.path))}} is never closed")
        }
        return root
    }

    private func path(_ text: Substring, _ line: Int) throws(PageError) -> [String] {
        let trimmed = text.trimmed(of: " \t\n")
        if trimmed == "." { return [] }
        let keys = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard !trimmed.isEmpty, keys.allSatisfy({ !$0.isEmpty && $0.allSatisfy(Self.isNameCharacter) }) else {
            throw PageError(reason: "\(name):\(line): `{{\(text)}}` is not a name (letters, digits, `_`, `-`, dots)")
        }
        return keys.map(String.init)
    }

    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == "-")
    }
}

extension StringProtocol {
    fileprivate func trimmed(of set: String) -> Substring {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return text
    }
}
