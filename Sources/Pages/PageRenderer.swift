import CNS
import FoundationEssentials

/// Renders the citizen-facing pages: the landing page, `/verifica` and one error page per
/// reason code, in Italian or English. Pure after `init`: no I/O, no clock, no global state,
/// so one renderer can serve every thread.
///
/// Everything a page shows comes from the template and strings files (embedded, or an
/// administrator's replacements read once at `init`); the code only chooses the page and fills
/// in the values. Every value from a request or a certificate is HTML-escaped.
public struct PageRenderer: Sendable {
    /// Every reason code that has a page, in the order the issue lists them, plus `bad_request`
    /// for a request the gateway cannot make sense of (a broken or truncated link).
    public static let reasons: [String] = [
        "ok", "no_certificate", "unknown_issuer", "expired", "not_yet_valid", "revoked",
        "revocation_unavailable", "weak_legacy_key", "bad_signature", "malformed_certificate",
        "signature_certificate", "not_cns_certificate", "invalid_fiscal_code",
        "temporarily_unavailable", "not_found", "bad_request",
    ]

    /// The page shown for a reason code this renderer does not know.
    static let fallbackReason = "bad_request"

    /// Reasons where checking the card on `/verifica` can help the citizen.
    private static let cardReasons: Set<String> = [
        "no_certificate", "unknown_issuer", "expired", "not_yet_valid", "revoked", "weak_legacy_key",
        "bad_signature", "malformed_certificate", "signature_certificate", "not_cns_certificate",
        "invalid_fiscal_code",
    ]

    /// - 200 `ok`;
    /// - 403 for every problem with the presented certificate (including none presented): the
    ///   request was understood, the identity behind it is refused;
    /// - 503 for `temporarily_unavailable` and `revocation_unavailable`: the gateway cannot
    ///   decide right now (no fresh CRL under `revocation = "require"`), retrying later can work;
    /// - 404 `not_found`; 400 `bad_request` and any code this renderer does not know.
    public static func statusCode(for reason: String) -> Int {
        switch reason {
        case "ok": 200
        case "temporarily_unavailable", "revocation_unavailable": 503
        case "not_found": 404
        case _ where cardReasons.contains(reason): 403
        default: 400
        }
    }

    public let help: HelpContacts
    public let serviceName: String
    private let files: PageFiles

    /// Loads the page set and renders every page once in both languages with sample data, so
    /// a broken override (a template naming a string that does not exist, an unclosed section,
    /// a reason without steps) is refused here, at start or reload, rather than shown to a citizen.
    /// - Parameter overrideDirectory: a directory holding replacements for any of the files in
    ///   `Resources/` under the same names (`layout.html`, `landing.html`, `verifica.html`,
    ///   `error.html`, `help.html`, `style.css`, `strings.it.json`, `strings.en.json`).
    public init(overrideDirectory: String? = nil, help: HelpContacts, serviceName: String = "Accedi con TS-CNS") throws(PageError) {
        self.help = help
        self.serviceName = serviceName
        self.files = try PageFiles(overrideDirectory: overrideDirectory)
        try validate()
    }

    // MARK: - Pages

    /// `/`: what a citizen needs (card, reader, software, PIN), how to get the PIN, what to do
    /// when it is blocked or the card is lost. `continueURL` becomes the login button.
    /// `query` is the request's query string, kept in the language link. `basePath` is the path
    /// the site's own links start with: "" at the host's root, "/cns" when a reverse proxy
    /// serves the gateway under that prefix.
    public func landing(_ language: PageLanguage, continueURL: String? = nil, query: String? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return landing(language, continueURL: continueURL, query: query, basePath: basePath, problems: &problems)
    }

    /// `/verifica`: what the gateway read from the presented certificate and whether it would
    /// accept it.
    public func verifica(_ report: CardReport, language: PageLanguage, query: String? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return verifica(report, language: language, query: query, basePath: basePath, problems: &problems)
    }

    /// The page for `reason`: what happened, what to do, the help contacts, the code itself.
    /// `returnURL` becomes a "back to the service" button; it is used only when it is an
    /// `http(s)` address or a path on this site. An unknown reason gets the `bad_request` page.
    public func error(reason: String, language: PageLanguage, returnURL: String? = nil, query: String? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return error(reason: reason, language: language, returnURL: returnURL, query: query, basePath: basePath, problems: &problems)
    }

    // MARK: - Page contexts

    private func landing(_ language: PageLanguage, continueURL: String?, query: String?, basePath: String = "",
                         problems: inout [String]) -> String {
        var values = common(language, basePath: basePath)
        values["continue_url"] = Self.safeLink(continueURL).map(TemplateValue.text)
        return page("landing", title: text(language, "landing", "title"), values: values, language: language, query: query, problems: &problems)
    }

    private func verifica(_ report: CardReport, language: PageLanguage, query: String?, basePath: String = "",
                          problems: inout [String]) -> String {
        var values = common(language, basePath: basePath)
        let reason = report.presented ? report.reason : "no_certificate"
        values["accepted"] = .bool(report.presented && reason == "ok")
        values["presented"] = .bool(report.presented)
        values["r"] = reasonStrings(reason, language)
        values["reason_code"] = .text(reason)
        values["openssl_error"] = .optionalText(report.opensslError)
        values["retry_href"] = .text("\(basePath)/verifica?lang=\(language.rawValue)")
        if report.presented {
            values["card"] = .object(cardFacts(report, language))
        }
        return page("verifica", title: text(language, "verifica", "title"), values: values, language: language, query: query, problems: &problems)
    }

    private func error(reason: String, language: PageLanguage, returnURL: String?, query: String?, basePath: String = "",
                       problems: inout [String]) -> String {
        let known = Self.reasons.contains(reason) ? reason : Self.fallbackReason
        var values = common(language, basePath: basePath)
        let strings = reasonStrings(known, language)
        values["r"] = strings
        values["reason_code"] = .text(known)
        values["return_url"] = Self.safeLink(returnURL).map(TemplateValue.text)
        values["show_verifica"] = .bool(Self.cardReasons.contains(known))
        let title = strings?["title"].flatMap { if case .text(let t) = $0 { t } else { nil } } ?? known
        return page("error", title: title, values: values, language: language, query: query, problems: &problems)
    }

    /// Renders `name` inside the layout.
    private func page(
        _ name: String, title: String, values: [String: TemplateValue], language: PageLanguage, query: String?,
        problems: inout [String]
    ) -> String {
        var values = values
        values["page_title"] = .text(title)
        values["switch"] = .object([
            "href": .text(Self.languageLink(query: query, to: language.other)),
            "lang": .text(language.other.rawValue),
            "name": .text(text(language.other, "language_name")),
        ])
        var context = Template.Context(stack: [.object(values)], partials: files.templates)
        let content = files.templates[name]?.render(&context) ?? ""
        context.stack = [.object(values.merging(["content": .html(content)]) { $1 })]
        let html = files.templates["layout"]?.render(&context) ?? content
        problems += context.problems
        return html
    }

    private func common(_ language: PageLanguage, basePath: String) -> [String: TemplateValue] {
        [
            "t": files.strings[language] ?? .object([:]),
            "lang": .text(language.rawValue),
            "service": .text(serviceName),
            // The administrator's own stylesheet, inside <style>: trusted like the templates.
            "css": .html(files.stylesheet),
            "help": .object(helpValues()),
            "home_href": .text("\(basePath)/?lang=\(language.rawValue)"),
            "verifica_href": .text("\(basePath)/verifica?lang=\(language.rawValue)"),
        ]
    }

    private func reasonStrings(_ reason: String, _ language: PageLanguage) -> TemplateValue? {
        files.strings[language]?["reasons"]?[reason]
    }

    private func text(_ language: PageLanguage, _ path: String...) -> String {
        if case .text(let text)? = files.strings[language]?.value(at: path[...]) { text } else { "" }
    }

    private func helpValues() -> [String: TemplateValue] {
        var values: [String: TemplateValue] = ["any": .bool(!help.isEmpty)]
        values["phone"] = .optionalText(help.phone)
        values["phone_href"] = .optionalText(help.phone.flatMap(Self.telephoneLink))
        values["email"] = .optionalText(help.email)
        values["email_href"] = .optionalText(help.email.flatMap(Self.mailLink))
        values["url"] = .optionalText(help.url)
        values["url_href"] = .optionalText(help.url.flatMap { Self.isHTTP($0) ? $0 : nil })
        values["hours"] = .optionalText(help.hours)
        return values
    }

    private func cardFacts(_ report: CardReport, _ language: PageLanguage) -> [String: TemplateValue] {
        let identity = report.identity
        var card: [String: TemplateValue] = [:]
        card["cf"] = .optionalText(identity?.codiceFiscale.value)
        card["surname"] = .optionalText(identity?.surname)
        card["given_name"] = .optionalText(identity?.givenName)
        card["card_id"] = .optionalText(identity?.cardID)
        card["administration"] = .optionalText(identity?.administration)
        card["issuer"] = .optionalText(report.issuer ?? identity?.issuer)
        card["subject"] = .optionalText(report.subject ?? identity?.subject)
        card["serial"] = .optionalText(report.serialHex ?? identity?.serialHex)
        card["sha256"] = .optionalText(report.sha256 ?? identity?.sha256Thumbprint)
        card["not_after"] = .optionalText((report.notAfter ?? identity?.notAfter).map { Self.format($0, language) })
        if let identity {
            let key = identity.keyBits > 0 ? "\(identity.keyAlgorithm) \(identity.keyBits) bit" : identity.keyAlgorithm
            card["key"] = .optionalText("\(key), \(identity.signatureAlgorithm)")
        }
        return card
    }

    // MARK: - Values made safe for links

    /// An `http:`/`https:` address or a path on this site (`/…`, not `//host`); anything else
    /// (`javascript:`, `data:`, a scheme-relative URL, whitespace or control characters) is
    /// dropped: the link is omitted rather than shown unsafe.
    static func safeLink(_ link: String?) -> String? {
        guard let link, !link.isEmpty,
            !link.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " })
        else { return nil }
        if isHTTP(link) { return link }
        if link.hasPrefix("/"), !link.hasPrefix("//"), !link.hasPrefix("/\\") { return link }
        return nil
    }

    static func isHTTP(_ link: String) -> Bool {
        let lower = link.lowercased()
        return (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && lower.count > 8
    }

    /// `tel:` with only `+` (leading) and digits: `800.030.606` → `tel:800030606` (RFC 3966).
    static func telephoneLink(_ phone: String) -> String? {
        let digits = phone.filter { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        // Leading blanks as Foundation's `CharacterSet.whitespaces`: tab and category Zs.
        let start = phone.unicodeScalars.drop { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }
        let plus = String(String.UnicodeScalarView(start)).hasPrefix("+") ? "+" : ""
        return "tel:" + plus + digits
    }

    static func mailLink(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            !email.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " || $0 == "?" || $0 == "&" })
        else { return nil }
        return "mailto:" + email
    }

    /// The language link: the current query with `lang` replaced, so a page reached with
    /// parameters keeps them when the citizen switches language.
    static func languageLink(query: String?, to language: PageLanguage) -> String {
        var items: [Substring] = []
        if let query {
            let body = query.hasPrefix("?") ? query.dropFirst() : Substring(query)
            items = body.split(separator: "&").filter { !($0 == "lang" || $0.hasPrefix("lang=")) }
        }
        items.append("lang=\(language.rawValue)"[...])
        return "?" + items.joined(separator: "&")
    }

    /// Dates in UTC, the way the certificate states them: a help desk compares them with the
    /// certificate, and a citizen needs the day.
    static func format(_ date: Date, _ language: PageLanguage) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let year = c.year.map(String.init) ?? "?"
        switch language {
        case .it: return "\(two(c.day))/\(two(c.month))/\(year) \(two(c.hour)):\(two(c.minute)) UTC"
        case .en: return "\(year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)) UTC"
        }
    }

    // MARK: - Load-time check

    private func validate() throws(PageError) {
        var problems: [String] = []
        for language in PageLanguage.allCases {
            for reason in Self.reasons {
                let where_ = "\(PageFiles.stringsName(language)): reasons.\(reason)"
                guard let strings = reasonStrings(reason, language) else {
                    throw PageError(reason: "\(where_) is missing")
                }
                for key in ["title", "what"] {
                    guard case .text(let text)? = strings[key], !text.isEmpty else {
                        throw PageError(reason: "\(where_).\(key) must be a non-empty string")
                    }
                }
                guard case .list(let steps)? = strings["steps"], !steps.isEmpty else {
                    throw PageError(reason: "\(where_).steps must be a non-empty list of strings")
                }
                _ = error(reason: reason, language: language, returnURL: "https://service.invalid/", query: nil, problems: &problems)
            }
            _ = landing(language, continueURL: "https://service.invalid/login", query: nil, problems: &problems)
            _ = landing(language, continueURL: nil, query: nil, problems: &problems)
            for report in Self.sampleReports {
                _ = verifica(report, language: language, query: nil, problems: &problems)
            }
        }
        if !problems.isEmpty {
            let unique = Array(Set(problems)).sorted()
            throw PageError(reason: "pages: " + unique.prefix(5).joined(separator: "; ")
                + (unique.count > 5 ? "; and \(unique.count - 5) more" : ""))
        }
    }

    /// Reports that visit every section of `verifica.html`: accepted with a full identity,
    /// refused without one, and no certificate at all.
    private static var sampleReports: [CardReport] {
        var reports = [
            CardReport(presented: false, reason: "no_certificate"),
            CardReport(presented: true, reason: "unknown_issuer", subject: "CN=x", issuer: "CN=y", serialHex: "01",
                       notAfter: Date(timeIntervalSince1970: 0), sha256: "00", opensslError: "unable to get local issuer certificate"),
        ]
        if let codiceFiscale = try? CodiceFiscale("RSSMRA80A01H501U") {
            let identity = CNSIdentity(
                codiceFiscale: codiceFiscale, cardID: "6120016461039008", cnHash: "OcjosidjOIUjhohdcaalkKgUgB4=",
                givenName: "MARIO", surname: "ROSSI", administration: "REGIONE DEMO", organization: "ArubaPEC S.p.A.",
                subject: "C=IT, CN=x", issuer: "C=IT, CN=y", serialHex: "01", notBefore: Date(timeIntervalSince1970: 0),
                notAfter: Date(timeIntervalSince1970: 0), keyAlgorithm: "RSA", keyBits: 2048,
                signatureAlgorithm: "sha256WithRSAEncryption", policyOIDs: [], sha256Thumbprint: "00", source: .commonName)
            reports.append(CardReport(presented: true, reason: "ok", identity: identity, opensslError: "ok"))
        }
        return reports
    }
}
