@testable import Pages
import Testing

struct TemplateTests {
    private func render(_ source: String, _ values: [String: TemplateValue], partials: [String: String] = [:]) throws -> (String, [String]) {
        var templates: [String: Template] = [:]
        for (name, text) in partials { templates[name] = try Template(name: "\(name).html", source: text) }
        var context = Template.Context(stack: [.object(values)], partials: templates)
        let output = try Template(name: "t.html", source: source).render(&context)
        return (output, context.problems)
    }

    @Test func textIsEscapedMarkupIsNot() throws {
        let (html, problems) = try render("<p>{{a}}</p>{{b}}", ["a": .text(#"<&>"'"#), "b": .html("<b>ok</b>")])
        #expect(html == "<p>&lt;&amp;&gt;&quot;&#39;</p><b>ok</b>")
        #expect(problems.isEmpty)
    }

    @Test func sectionsListsAndInvertedSections() throws {
        let values: [String: TemplateValue] = [
            "yes": .bool(true), "no": .bool(false), "empty": .text(""), "items": .list([.text("a"), .text("<b>")]),
            "none": .list([]), "o": .object(["x": .text("X")]),
        ]
        let source = "{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{^no}}!N{{/no}}{{#empty}}E{{/empty}}{{^missing}}!M{{/missing}}"
            + "[{{#items}}<i>{{.}}</i>{{/items}}]{{#none}}x{{/none}}{{^none}}!none{{/none}}{{#o}}{{x}}{{o.x}}{{yes}}{{/o}}"
        let (html, problems) = try render(source, values)
        // Inside {{#o}} a name not in `o` is looked up outside it: `yes` is found, but a
        // boolean has no text to show, which is reported.
        #expect(html == "Y!N!M[<i>a</i><i>&lt;b&gt;</i>]!noneXX")
        #expect(problems == ["t.html:2: {{yes}} has no text"] || problems == ["t.html:1: {{yes}} has no text"])
    }

    @Test func partialsAndComments() throws {
        let (html, problems) = try render("{{! a comment with } inside }}A{{> inner }}C", ["b": .text("B")], partials: ["inner": "{{b}}"])
        #expect(html == "ABC")
        #expect(problems.isEmpty)
    }

    @Test func missingValuesAreReported() throws {
        let (html, problems) = try render("<p>{{a.b}}</p>\n{{list}}", ["list": .list([])])
        #expect(html == "<p></p>\n")
        #expect(problems == ["t.html:1: {{a.b}} has no text", "t.html:2: {{list}} has no text"])
    }

    @Test(arguments: [
        ("{{#a}}x", "t.html:1: {{#a}} is never closed"),
        ("{{#a}}\n{{/b}}", "t.html:2: {{/b}} closes {{#a}} opened on line 1"),
        ("{{/a}}", "closes nothing"),
        ("{{}}", "empty tag"),
        ("{{a b}}", "is not a name"),
        ("{{a..b}}", "is not a name"),
        ("{{>}}", "bad template name"),
        ("x\ny\n{{a", "t.html:3: `{{` is never closed"),
    ])
    func syntaxErrorsNameTheLine(source: String, expected: String) {
        let error = #expect(throws: PageError.self) { try Template(name: "t.html", source: source) }
        #expect(error?.reason.contains(expected) == true, "\(error?.reason ?? "")")
    }

    @Test func escaping() {
        #expect(escapeHTML("") == "")
        #expect(escapeHTML("Niccolò D'Amico & <Figli>") == "Niccolò D&#39;Amico &amp; &lt;Figli&gt;")
        #expect(escapeHTML("\"\"") == "&quot;&quot;")
    }
}
