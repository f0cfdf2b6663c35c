import CNS
import Pages
import Testing

struct ErrorPageTests {
    static let languages: [PageLanguage] = [.it, .en]

    @Test(arguments: PageRenderer.reasons, languages)
    func everyReasonHasItsOwnPage(reason: String, language: PageLanguage) throws {
        let renderer = try makeRenderer()
        let html = renderer.error(reason: reason, language: language)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<html lang=\"\(language.rawValue)\">"))
        #expect(html.contains("<code>\(reason)</code>"))
        let title = try #require(capture("<h1>([^<]+)</h1>", in: html))
        #expect(html.contains("<title>\(title) · Accedi con TS-CNS</title>"))
        // What happened and what to do: a lead paragraph and at least one step.
        #expect(capture(#"<p class="lead">([^<]+)</p>"#, in: html) != nil)
        #expect(html.contains("<li>"))
    }

    @Test(arguments: languages)
    func titlesAndExplanationsAreDistinct(language: PageLanguage) throws {
        let renderer = try makeRenderer()
        var titles: [String: String] = [:]
        var leads: [String: String] = [:]
        for reason in PageRenderer.reasons {
            let html = renderer.error(reason: reason, language: language)
            let title = try #require(capture("<h1>([^<]+)</h1>", in: html))
            let lead = try #require(capture(#"<p class="lead">([^<]+)</p>"#, in: html))
            #expect(titles[title] == nil, "\(reason) and \(titles[title] ?? "") share the title \(title)")
            #expect(leads[lead] == nil, "\(reason) and \(leads[lead] ?? "") share the explanation")
            titles[title] = reason
            leads[lead] = reason
        }
    }

    @Test(arguments: PageRenderer.reasons)
    func italianAndEnglishDiffer(reason: String) throws {
        let renderer = try makeRenderer()
        let italian = renderer.error(reason: reason, language: .it)
        let english = renderer.error(reason: reason, language: .en)
        #expect(capture("<h1>([^<]+)</h1>", in: italian) != capture("<h1>([^<]+)</h1>", in: english))
        // The language link points at the other language and is marked as such.
        #expect(italian.contains(#"href="?lang=en" hreflang="en" lang="en">English</a>"#))
        #expect(english.contains(#"href="?lang=it" hreflang="it" lang="it">Italiano</a>"#))
    }

    /// The advice the issue asks for, checked in the words a citizen reads.
    @Test(arguments: [
        ("expired", PageLanguage.it, ["rinnovata", "ASL"]),
        ("expired", .en, ["renewed", "ASL"]),
        ("revoked", .it, ["Contact Center", "Se non hai segnalato nulla"]),
        ("revoked", .en, ["Contact Center", "If you did not report anything"]),
        // Browsers do not offer an expired card's certificate: it arrives as no_certificate.
        ("no_certificate", .it, ["lettore", "inserita", "software", "certificato", "PIN", "scadenza"]),
        ("no_certificate", .en, ["reader", "card is pushed all the way in", "software", "certificate", "PIN", "expiry date"]),
        ("signature_certificate", .it, ["firma", "codice fiscale"]),
        ("signature_certificate", .en, ["signing", "tax code"]),
        ("unknown_issuer", .it, ["non è una TS-CNS accettata qui"]),
        ("unknown_issuer", .en, ["not a TS-CNS card accepted here"]),
        ("not_cns_certificate", .it, ["non è quello di una Tessera Sanitaria"]),
        ("weak_legacy_key", .it, ["nuova TS-CNS"]),
        ("weak_legacy_key", .en, ["new TS-CNS card"]),
        ("temporarily_unavailable", .it, ["Riprova tra qualche minuto"]),
        ("not_found", .en, ["does not exist"]),
    ])
    func adviceMatchesTheReason(reason: String, language: PageLanguage, phrases: [String]) throws {
        let text = visibleText(try makeRenderer().error(reason: reason, language: language))
        for phrase in phrases {
            #expect(text.contains(phrase), "\(reason)/\(language): missing «\(phrase)»")
        }
    }

    @Test(arguments: PageRenderer.reasons)
    func helpContactsOnEveryErrorPage(reason: String) throws {
        let html = try makeRenderer().error(reason: reason, language: .it)
        #expect(html.contains(#"<a href="tel:800030606">800.030.606</a>"#))
        #expect(html.contains(#"<a href="mailto:contactcenter-SISS@regione.lombardia.it">contactcenter-SISS@regione.lombardia.it</a>"#))
        #expect(html.contains(#"<a href="https://www.regione.lombardia.it/">https://www.regione.lombardia.it/</a>"#))
        #expect(html.contains("lunedì-sabato 8:00-20:00"))
    }

    @Test func helpContactsThatCannotBeLinkedAreShownAsText() throws {
        let help = HelpContacts(phone: "+39 02 1234 5678", email: "not an address", url: "javascript:alert(1)", hours: nil)
        let html = try makeRenderer(help: help).error(reason: "expired", language: .en)
        #expect(html.contains(#"<a href="tel:+390212345678">+39 02 1234 5678</a>"#))
        #expect(html.contains("Email: not an address"))
        #expect(!html.contains("mailto:"))
        #expect(html.contains("Website: javascript:alert(1)"))
        #expect(!html.contains(#"href="javascript:"#))
        #expect(!html.contains("Opening hours"))
    }

    @Test func noHelpContactsGivesANeutralSentence() throws {
        let html = try makeRenderer(help: HelpContacts()).error(reason: "revoked", language: .it)
        #expect(visibleText(html).contains("Per assistenza rivolgiti al servizio da cui sei arrivato"))
        #expect(!html.contains("tel:"))
    }

    @Test func returnLinkOnlyWhenSafe() throws {
        let renderer = try makeRenderer()
        let back = renderer.error(reason: "expired", language: .it, returnURL: "https://fse.example.it/home?a=1&b=2")
        #expect(back.contains(#"<a class="button" href="https://fse.example.it/home?a=1&amp;b=2">Torna al servizio</a>"#))
        let local = renderer.error(reason: "expired", language: .it, returnURL: "/servizio")
        #expect(local.contains(#"href="/servizio""#))
        for unsafe in ["javascript:alert(1)", "//evil.example/", "data:text/html,x", "https://a b", "/\\evil", "JaVaScRiPt:x", ""] {
            let html = renderer.error(reason: "expired", language: .it, returnURL: unsafe)
            #expect(!html.contains("Torna al servizio"), "\(unsafe) was linked")
        }
    }

    @Test func certificateReasonsLinkToTheCardCheck() throws {
        let renderer = try makeRenderer()
        #expect(renderer.error(reason: "expired", language: .en).contains(#"<a href="/verifica?lang=en">Check your card</a>"#))
        #expect(!renderer.error(reason: "not_found", language: .en).contains("/verifica"))
        #expect(!renderer.error(reason: "temporarily_unavailable", language: .en).contains("/verifica"))
    }

    @Test func unknownReasonGetsTheBadRequestPage() throws {
        let renderer = try makeRenderer()
        let html = renderer.error(reason: "<img src=x>", language: .it)
        #expect(html == renderer.error(reason: "bad_request", language: .it))
        #expect(!html.contains("<img"))
    }

    @Test func languageLinkKeepsTheQuery() throws {
        let renderer = try makeRenderer()
        let html = renderer.error(reason: "expired", language: .it, query: "client_id=abc&lang=it&state=x\"y")
        #expect(html.contains(#"href="?client_id=abc&amp;state=x&quot;y&amp;lang=en""#))
    }

    @Test func statusCodes() {
        #expect(PageRenderer.statusCode(for: "ok") == 200)
        for reason in ["no_certificate", "unknown_issuer", "expired", "not_yet_valid", "revoked", "weak_legacy_key",
                       "bad_signature", "malformed_certificate", "signature_certificate", "not_cns_certificate",
                       "invalid_fiscal_code"] {
            #expect(PageRenderer.statusCode(for: reason) == 403, "\(reason)")
        }
        #expect(PageRenderer.statusCode(for: "temporarily_unavailable") == 503)
        #expect(PageRenderer.statusCode(for: "revocation_unavailable") == 503)
        #expect(PageRenderer.statusCode(for: "not_found") == 404)
        #expect(PageRenderer.statusCode(for: "bad_request") == 400)
        #expect(PageRenderer.statusCode(for: "something_else") == 400)
    }

    @Test func everyReasonCodeOfTheOtherModulesHasAPage() {
        // The TLS verdicts (docs/INTERFACES.md) and the CNS profile outcomes.
        let tls = ["ok", "no_certificate", "unknown_issuer", "expired", "not_yet_valid", "revoked",
                   "revocation_unavailable", "weak_legacy_key", "bad_signature", "malformed_certificate"]
        for reason in tls + CNSReason.allCases.map(\.rawValue) {
            #expect(PageRenderer.reasons.contains(reason), "\(reason) has no page")
        }
        #expect(Set(PageRenderer.reasons).count == PageRenderer.reasons.count)
    }
}
