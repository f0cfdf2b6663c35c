import CNS
import Foundation
import Pages
import Testing

struct LandingPageTests {
    @Test func italianLandingNamesWhatYouNeed() throws {
        let html = try makeRenderer().landing(.it)
        let text = visibleText(html)
        #expect(html.contains("<html lang=\"it\">"))
        #expect(html.contains("<h1>Accedi con la tua TS-CNS</h1>"))
        for phrase in ["lettore di smart card", "software della carta", "PIN della carta", "PUK",
                       "tre volte", "Contact Center", "sportelli abilitati"] {
            #expect(text.contains(phrase), "missing «\(phrase)»")
        }
        #expect(html.contains(#"<a href="/verifica?lang=it">Verifica la tua carta</a>"#))
        #expect(html.contains("tel:800030606"))
        #expect(!html.contains(#"class="button""#), "no login button without a continue URL")
    }

    @Test func englishLandingNamesWhatYouNeed() throws {
        let html = try makeRenderer().landing(.en)
        let text = visibleText(html)
        #expect(html.contains("<html lang=\"en\">"))
        for phrase in ["smart card reader", "card software", "PIN", "PUK", "three times", "Contact Center"] {
            #expect(text.contains(phrase), "missing «\(phrase)»")
        }
    }

    @Test func continueURLBecomesTheLoginButton() throws {
        let renderer = try makeRenderer()
        let html = renderer.landing(.it, continueURL: "/authorize?client_id=fse&state=a\"b")
        #expect(html.contains(#"<a class="button" href="/authorize?client_id=fse&amp;state=a&quot;b">Accedi con la carta</a>"#))
        #expect(!renderer.landing(.it, continueURL: "javascript:alert(1)").contains("javascript:"))
    }
}

struct VerificaPageTests {
    @Test func acceptedCardShowsWhoItBelongsTo() throws {
        let report = CardReport(presented: true, reason: "ok", identity: try identity(), opensslError: "ok")
        let html = try makeRenderer().verifica(report, language: .it)
        let text = visibleText(html)
        #expect(text.contains("Carta valida: sarebbe accettata"))
        #expect(!text.contains("Carta non accettata"))
        #expect(html.contains(#"<dd class="code">RSSMRA80A01H501U</dd>"#))
        #expect(html.contains("<dd>ROSSI</dd>"))
        #expect(html.contains("<dd>MARIO</dd>"))
        #expect(html.contains(#"<dd class="code">6120016461039008</dd>"#))
        #expect(html.contains("<dd>REGIONE DEMO</dd>"))
        #expect(text.contains("Autorità di certificazione C=IT, O=ArubaPEC S.p.A., OU=Servizi di Certificazione, CN=Regione Demo - CA Cittadini"))
        #expect(text.contains("Valida fino al 17/03/2030 17:46 UTC"))
        #expect(html.contains("<code>4A1B2C3D4E5F6071</code>"))
        #expect(html.contains("<code>RSA 2048 bit, sha256WithRSAEncryption</code>"))
        #expect(html.contains("<code>ab12cd34</code>"))
        #expect(html.contains("<code>ok</code>"))
    }

    @Test func acceptedCardInEnglish() throws {
        let report = CardReport(presented: true, reason: "ok", identity: try identity())
        let text = visibleText(try makeRenderer().verifica(report, language: .en))
        #expect(text.contains("Valid card: it would be accepted"))
        #expect(text.contains("Tax code (codice fiscale) RSSMRA80A01H501U"))
        #expect(text.contains("Card number 6120016461039008"))
        #expect(text.contains("Valid until 2030-03-17 17:46 UTC"))
    }

    @Test func rejectedCardShowsTheReasonAndWhatTheTLSLayerSaw() throws {
        let report = CardReport(
            presented: true, reason: "expired", identity: try identity(),
            subject: "C=IT, CN=from the TLS layer", issuer: "C=IT, CN=Regione Demo - CA Cittadini",
            serialHex: "0ABC", notAfter: Date(timeIntervalSince1970: 1_600_000_000), sha256: "ffee",
            opensslError: "certificate has expired")
        let renderer = try makeRenderer()
        let html = renderer.verifica(report, language: .it)
        let text = visibleText(html)
        #expect(text.contains("Carta non accettata"))
        #expect(!text.contains("sarebbe accettata"))
        let expiredTitle = try #require(capture("<h1>([^<]+)</h1>", in: renderer.error(reason: "expired", language: .it)))
        #expect(html.contains(expiredTitle))
        #expect(text.contains("rinnovata"))
        // The TLS layer's facts win over the identity's: they describe the presented certificate.
        #expect(text.contains("C=IT, CN=from the TLS layer"))
        #expect(html.contains("<code>0ABC</code>"))
        #expect(text.contains("13/09/2020"))
        #expect(html.contains("<code>certificate has expired</code>"))
        #expect(html.contains("RSSMRA80A01H501U"), "the holder is still shown for a help desk")
    }

    @Test func rejectedCardWithoutIdentity() throws {
        let report = CardReport(
            presented: true, reason: "not_cns_certificate", subject: "C=IT, O=ACME, CN=Mario Rossi",
            issuer: "C=IT, CN=ACME CA", opensslError: "ok")
        let text = visibleText(try makeRenderer().verifica(report, language: .en))
        #expect(text.contains("Card not accepted"))
        #expect(text.contains("This is not a TS-CNS certificate"))
        #expect(text.contains("No tax code could be read from this certificate."))
        #expect(text.contains("C=IT, O=ACME, CN=Mario Rossi"))
    }

    @Test func noCertificate() throws {
        let renderer = try makeRenderer()
        for report in [CardReport(presented: false, reason: "no_certificate"), CardReport(presented: false, reason: "ok")] {
            let html = renderer.verifica(report, language: .it)
            let text = visibleText(html)
            #expect(text.contains("Carta non accettata"))
            #expect(text.contains("Non abbiamo ricevuto la tua carta"))
            #expect(text.contains("lettore"))
            #expect(!text.contains("Cosa abbiamo letto dalla carta"))
            #expect(html.contains("<code>no_certificate</code>"))
        }
    }

    @Test func certificateFieldsAreEscaped() throws {
        let hostile = #"<script>alert("x")</script> ' & <img src=x onerror=alert(1)>"#
        let person = try identity(givenName: hostile, surname: "O'<b>NEIL</b>", subject: "CN=" + hostile, administration: hostile)
        let report = CardReport(
            presented: true, reason: "signature_certificate", identity: person, subject: hostile, issuer: hostile,
            serialHex: hostile, sha256: hostile, opensslError: hostile)
        let renderer = try makeRenderer()
        for language in [PageLanguage.it, .en] {
            let html = renderer.verifica(report, language: language, query: hostile)
            #expect(!html.contains("<script"))
            #expect(!html.contains("<img"))
            #expect(!html.contains("<b>"))
            #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#39; &amp; &lt;img src=x onerror=alert(1)&gt;"))
            #expect(html.contains("O&#39;&lt;b&gt;NEIL&lt;/b&gt;"))
            // Every attribute value stays inside its quotes.
            #expect(!html.contains("\"x\""))
            #expect(visibleText(html).contains(hostile))
        }
    }
}

struct PageStructureTests {
    static func allPages() throws -> [(String, String)] {
        let renderer = try makeRenderer()
        var pages: [(String, String)] = []
        for language in PageLanguage.allCases {
            pages.append(("landing/\(language)", renderer.landing(language, continueURL: "/authorize")))
            pages.append(("verifica-ok/\(language)", renderer.verifica(
                CardReport(presented: true, reason: "ok", identity: try identity()), language: language)))
            pages.append(("verifica-none/\(language)", renderer.verifica(
                CardReport(presented: false, reason: "no_certificate"), language: language)))
            for reason in PageRenderer.reasons {
                pages.append(("\(reason)/\(language)", renderer.error(reason: reason, language: language, returnURL: "https://s.example/")))
            }
        }
        return pages
    }

    /// No JavaScript, nothing loaded from elsewhere, readable on a phone, landmarks and one h1.
    @Test func everyPageIsSelfContainedAndAccessible() throws {
        for (name, html) in try Self.allPages() {
            #expect(!html.lowercased().contains("<script"), "\(name)")
            #expect(!html.contains(" src="), "\(name)")
            #expect(!html.contains("<link"), "\(name)")
            #expect(!html.contains("url("), "\(name)")
            #expect(!html.contains("@import"), "\(name)")
            #expect(html.firstMatch(of: #/\son[a-z]+=/#) == nil, "\(name): an event handler attribute")
            #expect(html.contains(#"<meta name="viewport" content="width=device-width, initial-scale=1">"#), "\(name)")
            #expect(html.contains("<meta charset=\"utf-8\">"), "\(name)")
            #expect(html.contains("<style>"), "\(name)")
            #expect(html.contains("<header"), "\(name)")
            #expect(html.contains("<main id=\"content\""), "\(name)")
            #expect(html.contains("<footer"), "\(name)")
            #expect(html.contains("<nav aria-label="), "\(name)")
            #expect(html.contains(##"<a class="skip-link" href="#content">"##), "\(name)")
            #expect(html.components(separatedBy: "<h1>").count == 2, "\(name): exactly one h1")
            #expect(!html.contains("{{"), "\(name): a template tag leaked")
            #expect(!html.contains("<h1></h1>") && !html.contains("<p></p>") && !html.contains("<li></li>"), "\(name): an empty string")
        }
    }

    @Test func stylesheetStatesItsContrastPairs() throws {
        let html = try makeRenderer().landing(.it)
        #expect(html.contains("WCAG"))
        #expect(html.contains("#1b1b1b on #ffffff  17.22"))
    }

    /// The ratios written in the stylesheet are the real ones (WCAG 2.x relative luminance).
    @Test func statedContrastRatiosAreCorrectAndMeetAA() throws {
        let html = try makeRenderer().landing(.it)
        let pairs = html.matches(of: #/(#[0-9a-f]{6}) on (#[0-9a-f]{6})\s+(\d+\.\d\d)/#)
        #expect(pairs.count >= 10)
        for pair in pairs {
            let ratio = contrast(String(pair.1), String(pair.2))
            #expect(abs(ratio - Double(pair.3)!) < 0.01, "\(pair.1) on \(pair.2): \(ratio)")
            #expect(ratio >= 4.5, "\(pair.1) on \(pair.2)")
        }
    }

    private func contrast(_ a: String, _ b: String) -> Double {
        func luminance(_ hex: String) -> Double {
            let value = Int(hex.dropFirst(), radix: 16)!
            let channels = [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF].map { Double($0) / 255 }
            let linear = channels.map { $0 <= 0.03928 ? $0 / 12.92 : pow(($0 + 0.055) / 1.055, 2.4) }
            return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        }
        let (x, y) = (luminance(a), luminance(b))
        return (max(x, y) + 0.05) / (min(x, y) + 0.05)
    }
}
