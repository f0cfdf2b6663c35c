import Foundation
import Testing
@testable import JSON

@Suite struct JSONTextTests {
    /// Foundation's JSONSerialization is the reference reader: what we write, it reads back
    /// to the same value.
    static func reference(_ bytes: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    static func random(_ state: inout UInt64, depth: Int) -> JSONValue {
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        let pick = depth > 3 ? next() % 5 : next() % 7
        switch pick {
        case 0: return .null
        case 1: return .bool(next() % 2 == 0)
        case 2: return .int(Int(truncatingIfNeeded: next() &* 2654435761) - Int(Int32.max))
        case 3: return .double(Double(Int(next() % 100_000)) / 64.0 + 0.5)
        case 4:
            let alphabet: [Unicode.Scalar] = ["a", "Z", "0", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "€", "😀", " ", "\u{7F}"]
            var s = ""
            for _ in 0..<(next() % 12) { s.unicodeScalars.append(alphabet[Int(next() % UInt64(alphabet.count))]) }
            return .string(s)
        case 5: return .array((0..<(next() % 5)).map { _ in random(&state, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for k in 0..<(next() % 5) { o["k\(k)\(next() % 3 == 0 ? "é/\"" : "")"] = random(&state, depth: depth + 1) }
            return .object(o)
        }
    }

    @Test func roundTripsRandomValuesAndFoundationReadsWhatWeWrite() {
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        for _ in 0..<2_000 {
            let value = Self.random(&state, depth: 0)
            let bytes = value.encoded()
            #expect(JSONValue.decode(bytes) == value, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(Self.reference(bytes) != nil, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test func writesCompactSortedUnescapedSlashes() {
        let value: JSONValue = ["b": 1, "a": ["x/y", "q\"\\\n\u{01}"], "é": true, "A": .null]
        #expect(value.text == #"{"A":null,"a":["x/y","q\"\\\n\u0001"],"b":1,"é":true}"#)
        #expect(JSONValue.double(1.5).text == "1.5")
        #expect(JSONValue.double(.infinity).text == "null")
    }

    @Test func readsWhatOtherWritersWrite() {
        let text = #" { "sub" : "RSSMRA80A01H501U", "exp": 1700000000, "frac": 1.25e2, "neg": -0, "esc": "\u00e8\ud83d\ude00\/" , "a": [ ] } "#
        let value = JSONValue.decode(Array(text.utf8))
        #expect(value?["sub"] == .string("RSSMRA80A01H501U"))
        #expect(value?["exp"] == .int(1_700_000_000))
        #expect(value?["frac"] == .double(125))
        #expect(value?["neg"] == .int(0))
        #expect(value?["esc"] == .string("è😀/"))
        #expect(value?["a"] == .array([]))
        #expect(JSONValue.decode(Array("9223372036854775808".utf8)) == .double(9_223_372_036_854_775_808))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "NaN",
        "\"abc", "\"a\u{01}b\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "truex", "nul",
        "{\"a\":1,\"a\":2}", "1 2", "[1] x", "{\"a\":1}}", "1e400",
    ])
    func refusesMalformedText(_ text: String) {
        #expect(JSONValue.decode(Array(text.utf8)) == nil, "\(text)")
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(JSONValue.decode([0x22, 0xC3, 0x28, 0x22]) == nil)
        #expect(JSONValue.decode([0x22, 0xED, 0xA0, 0x80, 0x22]) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(JSONValue.decode(Array(deep.utf8)) == nil)
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(JSONValue.decode(Array(ok.utf8)) != nil)
    }
}
