public import HTTP1
import ProxyProtocol

/// One hop named by a proxy in `Forwarded: for=` (RFC 7239) or `X-Forwarded-For`.
public enum ForwardedNode: Sendable, Equatable {
    /// 4 or 16 bytes; the port when the proxy gave one.
    case address([UInt8], port: UInt16?)
    /// `unknown`, an obfuscated identifier (RFC 7239 §6.3), or text that is no address.
    case unidentified
}

/// Which field the trusted proxy writes the client's address into.
public enum ForwardedClientField: String, Sendable, CaseIterable {
    /// A comma-separated list of addresses, each proxy appending the one it received from.
    case xForwardedFor = "x-forwarded-for"
    /// RFC 7239: elements `for=…;proto=…;by=…`, the same order.
    case forwarded
}

/// The client's address on a request that came through proxies. Every proxy appends the
/// address it received the request from, so the list reads farthest to nearest; anything a
/// client wrote itself stands to the left of what the trusted proxies appended. Reading from
/// the right and skipping the trusted proxies gives the first address no trusted party could
/// have made up: the right-most untrusted hop. Entries further left are never parsed, so
/// whatever a client put there cannot matter.
public enum ForwardedClient {
    /// nil when the field is absent (the client is then the proxy itself). `.unidentified` when
    /// the right-most untrusted entry is not an address. When every entry is a trusted proxy,
    /// the left-most one.
    public static func client(_ headers: [HTTPHeader], field: ForwardedClientField,
                              isTrusted: ([UInt8]) -> Bool) -> ForwardedNode? {
        let lines = headers.all(named: field.rawValue)
        if lines.isEmpty { return nil }
        let elements = splitList(Array(lines.joined(separator: ",").utf8))
        var leftmost: ForwardedNode?
        for element in elements.reversed() {
            let node: ForwardedNode
            switch field {
            case .xForwardedFor: node = parseNode(trim(element))
            case .forwarded: node = forwardedFor(element)
            }
            guard case .address(let bytes, _) = node, isTrusted(bytes) else { return node }
            leftmost = node
        }
        return leftmost
    }

    /// List elements split on commas outside double quotes (RFC 9110 §5.6.1), empty ones dropped.
    static func splitList(_ text: [UInt8]) -> [ArraySlice<UInt8>] {
        quotedListElements(text).elements.filter { !trim($0).isEmpty }
    }

    /// Every element of a comma-separated list whose values may be double-quoted strings
    /// (`\` escaping the next byte inside them), empty ones included, and whether the text ends
    /// inside a quoted string. The Forwarded / X-Forwarded-For list and Envoy's XFCC share it.
    static func quotedListElements(_ text: [UInt8]) -> (elements: [ArraySlice<UInt8>], unterminatedQuote: Bool) {
        var elements: [ArraySlice<UInt8>] = []
        var start = 0
        var inQuotes = false
        var i = 0
        while i < text.count {
            let c = text[i]
            if inQuotes {
                if c == UInt8(ascii: "\\") { i += 1 } else if c == UInt8(ascii: "\"") { inQuotes = false }
            } else if c == UInt8(ascii: "\"") {
                inQuotes = true
            } else if c == UInt8(ascii: ",") {
                elements.append(text[start..<i])
                start = i + 1
            }
            i += 1
        }
        elements.append(text[start..<text.count])
        return (elements, inQuotes)
    }

    /// RFC 7239 §4: `for=` among the element's `;`-separated pairs, its value a token or a
    /// quoted string. An element without `for` names no one.
    static func forwardedFor(_ element: ArraySlice<UInt8>) -> ForwardedNode {
        for pair in element.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true) {
            let pair = trim(pair)
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = pair[pair.startIndex..<equals]
            guard key.count == 3, zip(key, "for".utf8).allSatisfy({ ($0 | 0x20) == $1 }) else { continue }
            var value = pair[(equals + 1)...]
            if value.first == UInt8(ascii: "\"") {
                guard value.count >= 2, value.last == UInt8(ascii: "\"") else { return .unidentified }
                value = value.dropFirst().dropLast()
                if value.contains(UInt8(ascii: "\\")) { return .unidentified }
            }
            return parseNode(value)
        }
        return .unidentified
    }

    /// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
    static func parseNode(_ text: ArraySlice<UInt8>) -> ForwardedNode {
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")),
                  let bytes = IPAddress.parse(text[(text.startIndex + 1)..<close]), bytes.count == 16 else { return .unidentified }
            let rest = text[(close + 1)...]
            if rest.isEmpty { return .address(bytes, port: nil) }
            guard rest.first == UInt8(ascii: ":"), let port = port(rest.dropFirst()) else { return .unidentified }
            return .address(bytes, port: port)
        }
        if let bytes = IPAddress.parse(text) { return .address(bytes, port: nil) }
        // IPv4 with a port: exactly one colon.
        if let colon = text.firstIndex(of: UInt8(ascii: ":")), !text[(colon + 1)...].contains(UInt8(ascii: ":")),
           let bytes = IPAddress.parse(text[text.startIndex..<colon]), bytes.count == 4, let port = port(text[(colon + 1)...]) {
            return .address(bytes, port: port)
        }
        return .unidentified
    }

    private static func port(_ text: ArraySlice<UInt8>) -> UInt16? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt16(String(decoding: text, as: UTF8.self))
    }

    static func trim(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = text
        while let c = slice.first, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { slice = slice.dropFirst() }
        while let c = slice.last, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { slice = slice.dropLast() }
        return slice
    }
}
