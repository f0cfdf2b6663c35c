public import CNS
import FoundationEssentials

/// Renders the citizen-facing pages: the landing page, the CIE help page (`/cie`),
/// `/verifica` and one error page per reason code, in Italian or English, speaking of the
/// cards the gateway accepts (TS-CNS, CIE or both) and, on a failure, of the card presented. Pure after `init`: no I/O, no clock, no global state,
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
        "signature_certificate", "not_cns_certificate", "invalid_fiscal_code", "card_kind_not_allowed",
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
        // A good card the service does not take: refused, and no card check would help.
        case "card_kind_not_allowed": 403
        default: 400
        }
    }

    public let help: HelpContacts
    public let serviceName: String
    /// The cards the gateway accepts (`[profile]`): what the landing page offers.
    public let cardKinds: Set<CardKind>
    /// The CIE is accepted but no card listener offers TLS 1.2, which a CIE needs: every page
    /// says that a CIE cannot log in here.
    public let cieBlockedByTLS: Bool
    private let files: PageFiles

    /// Loads the page set and renders every page once in both languages with sample data, so
    /// a broken override (a template naming a string that does not exist, an unclosed section,
    /// a reason without steps) is refused here, at start or reload, rather than shown to a citizen.
    /// - Parameter overrideDirectory: a directory holding replacements for any of the files in
    ///   `Resources/` under the same names (`layout.html`, `landing.html`, `verifica.html`,
    ///   `error.html`, `help.html`, `style.css`, `strings.it.json`, `strings.en.json`).
    /// - Parameter serviceName: the name in every page's header; by default "Accedi con TS-CNS",
    ///   "Accedi con CIE" or "Accedi con TS-CNS o CIE" after `cardKinds`.
    public init(overrideDirectory: String? = nil, help: HelpContacts, serviceName: String? = nil,
                cardKinds: Set<CardKind> = [.cns], cieBlockedByTLS: Bool = false) throws(PageError) {
        self.help = help
        self.cardKinds = cardKinds.isEmpty ? [.cns] : cardKinds
        self.serviceName = serviceName ?? Self.defaultServiceName(self.cardKinds)
        self.cieBlockedByTLS = cieBlockedByTLS && self.cardKinds.contains(.cie)
        self.files = try PageFiles(overrideDirectory: overrideDirectory)
        try validate()
    }

    static func defaultServiceName(_ kinds: Set<CardKind>) -> String {
        switch (kinds.contains(.cns), kinds.contains(.cie)) {
        case (true, true): "Accedi con TS-CNS o CIE"
        case (false, true): "Accedi con CIE"
        default: "Accedi con TS-CNS"
        }
    }

    // MARK: - Pages

    /// `/`: what a citizen needs (card, reader, software, PIN), how to get the PIN, what to do
    /// when it is blocked or the card is lost, for each card offered. `continueURL` becomes the
    /// login button. `query` is the request's query string, kept in the language link.
    /// `cardKinds` narrows the cards offered (a service that takes one card only); nil offers
    /// every card the gateway accepts. `basePath` is the path the site's own links start with:
    /// "" at the host's root, "/cns" when a reverse proxy serves the gateway under that prefix.
    public func landing(_ language: PageLanguage, continueURL: String? = nil, query: String? = nil,
                        cardKinds: Set<CardKind>? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return landing(language, continueURL: continueURL, query: query, kinds: offered(cardKinds), basePath: basePath,
                       problems: &problems)
    }

    /// `/cie`: "Accedi con CIE", what a login with the electronic identity card needs.
    public func cieHelp(_ language: PageLanguage, query: String? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return cieHelp(language, query: query, basePath: basePath, problems: &problems)
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
    /// `cardKind` is the card presented, when the gateway recognised it: the page speaks of that
    /// card (a CIE's expiry is the Comune's business, a TS-CNS's the Region's). `acceptedKinds`
    /// are the cards the login takes, named by `card_kind_not_allowed`.
    public func error(reason: String, language: PageLanguage, returnURL: String? = nil, query: String? = nil,
                      cardKind: CardKind? = nil, acceptedKinds: Set<CardKind>? = nil, basePath: String = "") -> String {
        var problems: [String] = []
        return error(reason: reason, language: language, returnURL: returnURL, query: query, cardKind: cardKind,
                     acceptedKinds: acceptedKinds, basePath: basePath, problems: &problems)
    }

    // MARK: - Page contexts

    private func offered(_ kinds: Set<CardKind>?) -> Set<CardKind> {
        let narrowed = kinds.map { $0.intersection(cardKinds) } ?? cardKinds
        return narrowed.isEmpty ? cardKinds : narrowed
    }

    /// The strings key of a text that exists once per combination of cards: `base` for the
    /// TS-CNS alone (the original wording), `base_cie`, `base_both`.
    private static func variant(_ base: String, _ kinds: Set<CardKind>) -> String {
        switch (kinds.contains(.cns), kinds.contains(.cie)) {
        case (true, true): base + "_both"
        case (false, true): base + "_cie"
        default: base
        }
    }

    private func landing(_ language: PageLanguage, continueURL: String?, query: String?, kinds: Set<CardKind>, basePath: String = "",
                         problems: inout [String]) -> String {
        var values = common(language, basePath: basePath)
        values["continue_url"] = Self.safeLink(continueURL).map(TemplateValue.text)
        values["help_none"] = .text(text(language, "help", Self.variant("none", kinds)))
        values["offer"] = .object([
            "cns": .bool(kinds.contains(.cns)), "cie": .bool(kinds.contains(.cie)), "both": .bool(kinds.count > 1),
            "heading": .text(text(language, "landing", Self.variant("heading", kinds))),
            "intro": .text(text(language, "landing", Self.variant("intro", kinds))),
        ])
        return page("landing", title: text(language, "landing", Self.variant("title", kinds)), values: values, language: language,
                    query: query, problems: &problems)
    }

    private func cieHelp(_ language: PageLanguage, query: String?, basePath: String = "", problems: inout [String]) -> String {
        var values = common(language, basePath: basePath)
        values["cie_accepted"] = .bool(cardKinds.contains(.cie))
        values["help_none"] = .text(text(language, "help", "none_cie"))
        return page("cie", title: text(language, "cie", "title"), values: values, language: language, query: query, problems: &problems)
    }

    private func verifica(_ report: CardReport, language: PageLanguage, query: String?, basePath: String = "",
                          problems: inout [String]) -> String {
        var values = common(language, basePath: basePath)
        let reason = report.presented ? report.reason : "no_certificate"
        values["accepted"] = .bool(report.presented && reason == "ok")
        values["presented"] = .bool(report.presented)
        let kind = pageKind(report.presented ? report.kind ?? report.identity?.kind : nil, reason: reason)
        values["r"] = reasonStrings(reason, language, kind: kind)
        if let kind { values["help_none"] = .text(text(language, "help", Self.variant("none", [kind]))) }
        values["reason_code"] = .text(reason)
        values["cie_hint"] = .bool(showsCIEHint(reason, kind: kind))
        values["openssl_error"] = .optionalText(report.opensslError)
        values["retry_href"] = .text("\(basePath)/verifica?lang=\(language.rawValue)")
        if report.presented {
            values["card"] = .object(cardFacts(report, language))
        }
        return page("verifica", title: text(language, "verifica", "title"), values: values, language: language, query: query, problems: &problems)
    }

    private func error(reason: String, language: PageLanguage, returnURL: String?, query: String?, cardKind: CardKind?,
                       acceptedKinds: Set<CardKind>?, basePath: String = "", problems: inout [String]) -> String {
        let known = Self.reasons.contains(reason) ? reason : Self.fallbackReason
        var values = common(language, basePath: basePath)
        let kind = pageKind(cardKind, reason: known)
        let strings = reasonStrings(known, language, kind: kind)
        values["r"] = strings
        if let kind { values["help_none"] = .text(text(language, "help", Self.variant("none", [kind]))) }
        values["reason_code"] = .text(known)
        values["return_url"] = Self.safeLink(returnURL).map(TemplateValue.text)
        values["show_verifica"] = .bool(Self.cardReasons.contains(known))
        values["cie_hint"] = .bool(showsCIEHint(known, kind: kind))
        values["accepted_cards"] = .list(offered(acceptedKinds).sorted().map { .text(text(language, "common", "kind_\($0.rawValue)")) })
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

    /// The card a page speaks of: the one presented when it was recognised, else the only one
    /// the gateway accepts; nil (the general wording) when it could be either. A refusal of the
    /// card itself (a kind switched off, or not the service's) speaks only of a card presented.
    private func pageKind(_ presented: CardKind?, reason: String) -> CardKind? {
        if presented != nil || Self.aboutThePresentedCard.contains(reason) { return presented }
        return cardKinds.count == 1 ? cardKinds.first : nil
    }

    /// Reasons whose per-card wording says "you used this card": never guessed.
    private static let aboutThePresentedCard: Set<String> = ["not_cns_certificate", "card_kind_not_allowed"]

    /// A card problem whose card is unknown, on a gateway that also takes the CIE: the general
    /// wording speaks of the TS-CNS, so the page adds where a CIE holder finds help.
    private func showsCIEHint(_ reason: String, kind: CardKind?) -> Bool {
        kind == nil && cardKinds.contains(.cie) && Self.cardReasons.contains(reason)
    }

    private func common(_ language: PageLanguage, basePath: String = "") -> [String: TemplateValue] {
        [
            "t": files.strings[language] ?? .object([:]),
            "lang": .text(language.rawValue),
            "service": .text(serviceName),
            "footer": .text(text(language, "common", Self.variant("footer", cardKinds))),
            "help_none": .text(text(language, "help", Self.variant("none", cardKinds))),
            "cie_tls_notice": .bool(cieBlockedByTLS),
            "cie_href": .text("\(basePath)/cie?lang=\(language.rawValue)"),
            // The administrator's own stylesheet, inside <style>: trusted like the templates.
            "css": .html(files.stylesheet),
            "help": .object(helpValues()),
            "home_href": .text("\(basePath)/?lang=\(language.rawValue)"),
            "verifica_href": .text("\(basePath)/verifica?lang=\(language.rawValue)"),
        ]
    }

    /// The texts of `reason`, in the wording for `kind` (`reasons_cns`, `reasons_cie`) where
    /// the strings have one, else the general wording (`reasons`).
    private func reasonStrings(_ reason: String, _ language: PageLanguage, kind: CardKind? = nil) -> TemplateValue? {
        if let kind, let specific = files.strings[language]?["reasons_\(kind.rawValue)"]?[reason] { return specific }
        return files.strings[language]?["reasons"]?[reason]
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
        card["document_number"] = .optionalText(identity?.documentNumber)
        if let kind = report.kind ?? identity?.kind {
            card["kind"] = .text(text(language, "common", "kind_\(kind.rawValue)"))
        }
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
                guard let strings = reasonStrings(reason, language) else {
                    throw PageError(reason: "\(PageFiles.stringsName(language)): reasons.\(reason) is missing")
                }
                try Self.checkReasonStrings(strings, at: "\(PageFiles.stringsName(language)): reasons.\(reason)")
                for kind in [nil] + CardKind.allCases {
                    _ = error(reason: reason, language: language, returnURL: "https://service.invalid/", query: nil, cardKind: kind,
                              acceptedKinds: nil, problems: &problems)
                }
            }
            // The wording per card: optional per reason, complete when present, and only for
            // reasons that exist (a misspelt reason would never be shown).
            for kind in CardKind.allCases {
                let table = "reasons_\(kind.rawValue)"
                guard let specific = files.strings[language]?[table] else { continue }
                guard case .object(let entries) = specific else {
                    throw PageError(reason: "\(PageFiles.stringsName(language)): \(table) must be an object")
                }
                for (reason, strings) in entries {
                    guard Self.reasons.contains(reason) else {
                        throw PageError(reason: "\(PageFiles.stringsName(language)): \(table).\(reason) names no reason code")
                    }
                    try Self.checkReasonStrings(strings, at: "\(PageFiles.stringsName(language)): \(table).\(reason)")
                }
            }
            for kinds in [[CardKind.cns], [.cie], [.cns, .cie]] as [Set<CardKind>] {
                for kind in kinds where text(language, "common", "kind_\(kind.rawValue)").isEmpty {
                    problems.append("\(PageFiles.stringsName(language)): common.kind_\(kind.rawValue) is missing")
                }
                for key in ["title", "heading", "intro"] where text(language, "landing", Self.variant(key, kinds)).isEmpty {
                    problems.append("\(PageFiles.stringsName(language)): landing.\(Self.variant(key, kinds)) is missing")
                }
                for (table, key) in [("common", "footer"), ("help", "none")] where text(language, table, Self.variant(key, kinds)).isEmpty {
                    problems.append("\(PageFiles.stringsName(language)): \(table).\(Self.variant(key, kinds)) is missing")
                }
                _ = landing(language, continueURL: "https://service.invalid/login", query: nil, kinds: kinds, problems: &problems)
                _ = landing(language, continueURL: nil, query: nil, kinds: kinds, problems: &problems)
            }
            _ = cieHelp(language, query: nil, problems: &problems)
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

    private static func checkReasonStrings(_ strings: TemplateValue, at where_: String) throws(PageError) {
        for key in ["title", "what"] {
            guard case .text(let text)? = strings[key], !text.isEmpty else {
                throw PageError(reason: "\(where_).\(key) must be a non-empty string")
            }
        }
        guard case .list(let steps)? = strings["steps"], !steps.isEmpty else {
            throw PageError(reason: "\(where_).steps must be a non-empty list of strings")
        }
    }

    /// Reports that visit every section of `verifica.html`: accepted with a full identity (a
    /// TS-CNS and a CIE), refused without one, and no certificate at all.
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
            var cie = identity
            cie.kind = .cie
            cie.cardID = nil
            cie.cnHash = nil
            cie.documentNumber = "CA00000AA"
            cie.cnNumber = "004400123456"
            reports.append(CardReport(presented: true, reason: "ok", identity: cie, opensslError: "ok"))
            reports.append(CardReport(presented: true, reason: "invalid_fiscal_code", kind: .cie, subject: "CN=x", issuer: "CN=y"))
        }
        return reports
    }
}
