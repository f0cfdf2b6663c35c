/// The language of a page. Italian is the default: the citizens are Italian residents, and
/// English is offered to those who ask for it.
public enum PageLanguage: String, Sendable, CaseIterable {
    case it, en

    /// `?lang=` wins (the language link on every page sets it); then the best `Accept-Language`
    /// entry (RFC 9110 section 12.5.4: q-values, `*`, primary subtag only); then Italian.
    /// `query` is the request's raw query string (`lang=en&x=1`; a leading `?` is ignored).
    /// An unsupported `?lang=` value is ignored, not an error.
    public static func negotiate(query: String?, acceptLanguage: String?) -> PageLanguage {
        if let query, let value = queryValue(named: "lang", in: query), let language = PageLanguage(tag: value) {
            return language
        }
        if let acceptLanguage, let language = best(acceptLanguage: acceptLanguage) {
            return language
        }
        return .it
    }

    /// The other language, the target of the page's language link.
    var other: PageLanguage {
        self == .it ? .en : .it
    }

    /// `en`, `EN`, `en-GB`, `en_US` all mean English.
    init?(tag: some StringProtocol) {
        let primary = tag.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map { $0.lowercased() } ?? ""
        guard let language = PageLanguage(rawValue: primary) else { return nil }
        self = language
    }

    /// The first `name=value` of a query string, percent-decoded.
    static func queryValue(named name: String, in query: String) -> String? {
        let body = query.hasPrefix("?") ? query.dropFirst() : Substring(query)
        for item in body.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return percentDecoded(parts[1])
        }
        return nil
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let high = hexValue(utf8[utf8.startIndex]), let low = hexValue(utf8[utf8.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                utf8 = utf8.dropFirst(2)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The supported language with the highest q. An explicit entry beats `*` at the same q,
    /// and an earlier entry beats a later one; q=0 means "not this one". A language only
    /// covered by `*` counts as acceptable with the wildcard's q.
    static func best(acceptLanguage: String) -> PageLanguage? {
        var explicit: [PageLanguage: (q: Double, position: Int)] = [:]
        var wildcard: Double?
        for (position, entry) in acceptLanguage.split(separator: ",").enumerated() {
            let fields = entry.split(separator: ";").map { $0.trimmingSpaces() }
            guard let tag = fields.first, !tag.isEmpty else { continue }
            var q = 1.0
            for parameter in fields.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                if pair.count == 2, pair[0].lowercased() == "q" {
                    // A q that does not parse makes the entry unusable rather than preferred.
                    guard let value = Double(pair[1]), (0...1).contains(value) else { q = 0; break }
                    q = value
                }
            }
            if tag == "*" {
                wildcard = wildcard ?? q
            } else if let language = PageLanguage(tag: tag), explicit[language] == nil {
                explicit[language] = (q, position)
            }
        }
        var choice: (language: PageLanguage, q: Double, explicit: Bool, position: Int)?
        for language in PageLanguage.allCases {
            let candidate: (q: Double, explicit: Bool, position: Int)
            if let entry = explicit[language] {
                candidate = (entry.q, true, entry.position)
            } else if let wildcard {
                candidate = (wildcard, false, Int.max)
            } else {
                continue
            }
            guard candidate.q > 0 else { continue }
            if let current = choice {
                let better = candidate.q > current.q
                    || (candidate.q == current.q && candidate.explicit && !current.explicit)
                    || (candidate.q == current.q && candidate.explicit == current.explicit
                        && candidate.position < current.position)
                guard better else { continue }
            }
            choice = (language, candidate.q, candidate.explicit, candidate.position)
        }
        return choice?.language
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
