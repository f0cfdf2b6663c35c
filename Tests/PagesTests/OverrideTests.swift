import Foundation
import Pages
import Testing

/// An administration restyles the pages by putting files with the same names as
/// `Sources/Pages/Resources/` in the override directory.
struct OverrideTests {
    @Test func templateReplacesTheEmbeddedOne() throws {
        let directory = try TemporaryDirectory()
        try directory.write("error.html", #"<h1 class="regione">{{r.title}}</h1><p>{{r.what}}</p>{{>help}}<p>{{reason_code}}</p>"#)
        let renderer = try makeRenderer(overrideDirectory: directory.path)
        let html = renderer.error(reason: "expired", language: .it)
        #expect(html.contains(#"<h1 class="regione">La carta è scaduta</h1>"#))
        #expect(html.contains("tel:800030606"), "the embedded help block is still there")
        #expect(!html.contains("Cosa puoi fare"), "the embedded error template is gone")
        // Other pages keep the embedded templates.
        #expect(renderer.landing(.it).contains("<h1>Accedi con la tua TS-CNS</h1>"))
    }

    @Test func stylesheetAndLayoutReplaceTheEmbeddedOnes() throws {
        let directory = try TemporaryDirectory()
        try directory.write("style.css", "body { color: #000000; } /* Regione Demo */")
        try directory.write("layout.html", #"<!DOCTYPE html><html lang="{{lang}}"><head><title>{{page_title}}</title><style>{{css}}</style></head><body><main>{{content}}</main></body></html>"#)
        let html = try makeRenderer(overrideDirectory: directory.path).landing(.en)
        #expect(html.contains("<style>body { color: #000000; } /* Regione Demo */</style>"))
        #expect(html.contains("<title>Log in with TS-CNS</title>"))
        #expect(!html.contains("WCAG"))
    }

    @Test func stringsAreLaidOverTheEmbeddedOnes() throws {
        let directory = try TemporaryDirectory()
        try directory.write("strings.it.json", #"{"reasons": {"expired": {"title": "Tessera scaduta <rinnovala>"}}, "help": {"heading": "Assistenza"}}"#)
        let renderer = try makeRenderer(overrideDirectory: directory.path)
        let html = renderer.error(reason: "expired", language: .it)
        #expect(html.contains("<h1>Tessera scaduta &lt;rinnovala&gt;</h1>"), "strings are text, escaped like any other")
        #expect(html.contains("Il certificato della tua carta è scaduto"), "keys not overridden keep the embedded text")
        #expect(html.contains("Assistenza"))
        #expect(renderer.error(reason: "expired", language: .en).contains("<h1>Your card has expired</h1>"))
    }

    @Test(arguments: [
        ("strings.it.json", #"{"reasons": {"expird": {"title": "x"}}}"#, "unknown key reasons.expird"),
        ("strings.en.json", #"{"reasons": {"expired": {"steps": "just one"}}}"#, "reasons.expired.steps must be a list of strings"),
        ("strings.en.json", #"{"reasons": {"expired": {"title": 3}}}"#, "not a strings file"),
        ("strings.en.json", #"["x"]"#, "the top level must be an object"),
        ("strings.en.json", #"{"reasons": {"expired": {"steps": []}}}"#, "reasons.expired.steps must be a non-empty list"),
        ("error.html", "{{#r}}<h1>{{r.title}}</h1>", "error.html:1: {{#r}} is never closed"),
        ("error.html", "<h1>{{r.title}}</h1>\n{{/r}}", "error.html:2: {{/r}} closes nothing"),
        ("landing.html", "<h1>{{t.landing.headline}}</h1>", "landing.html:1: {{t.landing.headline}} has no text"),
        ("verifica.html", "{{>footer}}", "no template footer.html"),
        ("help.html", "{{>help}}", "nested too deep"),
        ("layout.html", "<p>{{content</p>", "never closed with `}}`"),
        ("Error.html", "<h1>x</h1>", "not a page file name"),
    ])
    func brokenOverridesAreRefusedAtLoad(file: String, content: String, expected: String) throws {
        let directory = try TemporaryDirectory()
        try directory.write(file, content)
        let error = #expect(throws: PageError.self) { try makeRenderer(overrideDirectory: directory.path) }
        #expect(error?.reason.contains(expected) == true, "\(error?.reason ?? "no error")")
    }

    @Test func otherFilesInTheDirectoryAreIgnored() throws {
        let directory = try TemporaryDirectory()
        try directory.write("README.txt", "Our restyled pages")
        _ = try makeRenderer(overrideDirectory: directory.path)
    }

    @Test func missingDirectoryIsAnError() {
        let error = #expect(throws: PageError.self) { try makeRenderer(overrideDirectory: "/nonexistent/pages") }
        #expect(error?.reason.contains("/nonexistent/pages") == true)
    }
}
