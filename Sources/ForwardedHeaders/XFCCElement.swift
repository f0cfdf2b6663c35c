/// Envoy's `x-forwarded-client-cert`: elements separated by `,`, one per proxy that handled
/// the request, each a `;`-separated list of `Key=value` pairs (keys case-insensitive); a value
/// holding `,`, `;` or `=` is double-quoted, with `\"` for a quote inside.
///
/// Only the last element is read: with `SANITIZE_SET` it is the only one, and with
/// `APPEND_FORWARD` the trusted proxy appends its own element after whatever the client or
/// earlier hops sent, so the last is the one describing the connection that proxy terminated.
enum XFCCElement {
    /// The pairs of the last element, keys lowercased, values unquoted.
    static func lastElement(_ text: [UInt8]) throws(ForwardedHeaderError) -> [(key: String, value: [UInt8])] {
        let list = ForwardedClient.quotedListElements(text)
        if list.unterminatedQuote { throw ForwardedHeaderError(.xfccSyntax, "an unterminated quoted value") }
        return try pairs(Array(list.elements.last ?? []))
    }

    private static func pairs(_ element: [UInt8]) throws(ForwardedHeaderError) -> [(key: String, value: [UInt8])] {
        var result: [(key: String, value: [UInt8])] = []
        var i = 0
        func skipSpaces() { while i < element.count, element[i] == UInt8(ascii: " ") || element[i] == UInt8(ascii: "\t") { i += 1 } }
        skipSpaces()
        if i == element.count { throw ForwardedHeaderError(.xfccSyntax, "an empty element") }
        while i < element.count {
            let keyStart = i
            while i < element.count, element[i] != UInt8(ascii: "="), element[i] != UInt8(ascii: ";") { i += 1 }
            let key = String(decoding: element[keyStart..<i], as: UTF8.self).lowercased()
            guard !key.isEmpty, i < element.count, element[i] == UInt8(ascii: "="),
                  key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") }) else {
                throw ForwardedHeaderError(.xfccSyntax, "a pair that is not Key=value")
            }
            i += 1
            var value: [UInt8] = []
            if i < element.count, element[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < element.count {
                    let c = element[i]
                    if c == UInt8(ascii: "\\"), i + 1 < element.count {
                        value.append(element[i + 1])
                        i += 2
                        continue
                    }
                    i += 1
                    if c == UInt8(ascii: "\"") {
                        closed = true
                        break
                    }
                    value.append(c)
                }
                guard closed else { throw ForwardedHeaderError(.xfccSyntax, "an unterminated quoted value") }
                skipSpaces()
                guard i == element.count || element[i] == UInt8(ascii: ";") else {
                    throw ForwardedHeaderError(.xfccSyntax, "text after a quoted value")
                }
            } else {
                while i < element.count, element[i] != UInt8(ascii: ";") {
                    if element[i] == UInt8(ascii: "=") || element[i] == UInt8(ascii: "\"") {
                        throw ForwardedHeaderError(.xfccSyntax, "'=' or '\"' in an unquoted value")
                    }
                    value.append(element[i])
                    i += 1
                }
                while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { value.removeLast() }
            }
            result.append((key, value))
            if i < element.count {
                i += 1  // the ';'
                skipSpaces()
                if i == element.count { throw ForwardedHeaderError(.xfccSyntax, "a ';' ends the element") }
            }
        }
        return result
    }
}
