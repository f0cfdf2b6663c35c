import Pages
import Testing

struct PageLanguageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var query: String?
        var acceptLanguage: String?
        var expected: PageLanguage
        var testDescription: String { "query=\(query ?? "nil") accept=\(acceptLanguage ?? "nil") -> \(expected)" }
    }

    static let cases: [Case] = [
        Case(query: nil, acceptLanguage: nil, expected: .it),
        Case(query: "", acceptLanguage: "", expected: .it),
        Case(query: "lang=en", acceptLanguage: nil, expected: .en),
        Case(query: "?lang=en", acceptLanguage: nil, expected: .en),
        Case(query: "lang=EN", acceptLanguage: nil, expected: .en),
        Case(query: "lang=en-GB", acceptLanguage: nil, expected: .en),
        Case(query: "lang=%65n", acceptLanguage: nil, expected: .en),
        Case(query: "client_id=x&lang=en&state=y", acceptLanguage: nil, expected: .en),
        // ?lang= wins over the browser's preference, both ways.
        Case(query: "lang=it", acceptLanguage: "en-US,en;q=0.9", expected: .it),
        Case(query: "lang=en", acceptLanguage: "it-IT,it;q=0.9", expected: .en),
        // An unsupported ?lang= falls through to Accept-Language.
        Case(query: "lang=fr", acceptLanguage: "en-GB,en;q=0.9", expected: .en),
        Case(query: "lang=", acceptLanguage: "en", expected: .en),
        Case(query: "language=en", acceptLanguage: nil, expected: .it),
        Case(query: nil, acceptLanguage: "en-US,en;q=0.9,it;q=0.8", expected: .en),
        Case(query: nil, acceptLanguage: "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7", expected: .it),
        Case(query: nil, acceptLanguage: "de-DE,de;q=0.9", expected: .it),
        Case(query: nil, acceptLanguage: "de-DE, de;q=0.9, en;q=0.5", expected: .en),
        Case(query: nil, acceptLanguage: "it;q=0.2, en;q=0.8", expected: .en),
        Case(query: nil, acceptLanguage: "en;q=0.5, it;q=0.5", expected: .en),
        Case(query: nil, acceptLanguage: "EN", expected: .en),
        Case(query: nil, acceptLanguage: " en ; q=0.7 ", expected: .en),
        // q=0 means "not acceptable"; a q that does not parse counts for nothing.
        Case(query: nil, acceptLanguage: "en;q=0", expected: .it),
        Case(query: nil, acceptLanguage: "en;q=abc", expected: .it),
        Case(query: nil, acceptLanguage: "en;q=2", expected: .it),
        // `*` stands for every language not listed: Italian here, at the wildcard's q.
        Case(query: nil, acceptLanguage: "*;q=0.8, en;q=0.5", expected: .it),
        Case(query: nil, acceptLanguage: "en;q=0.5, *;q=0.5", expected: .en),
        Case(query: nil, acceptLanguage: "*", expected: .it),
        Case(query: nil, acceptLanguage: ",,;q=1,", expected: .it),
    ]

    @Test(arguments: cases)
    func negotiates(_ c: Case) {
        #expect(PageLanguage.negotiate(query: c.query, acceptLanguage: c.acceptLanguage) == c.expected)
    }
}
