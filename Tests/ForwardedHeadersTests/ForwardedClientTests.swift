@testable import ForwardedHeaders
import HTTP1
import Testing

/// The client's address from the fields the trusted proxies appended: the right-most hop that
/// is not one of them, whatever a client wrote to the left.
@Suite struct ForwardedClientTests {
    /// 10.0.0.0/8 and ::1 are the trusted proxies here.
    func trusted(_ bytes: [UInt8]) -> Bool { (bytes.count == 4 && bytes[0] == 10) || bytes == [UInt8](repeating: 0, count: 15) + [1] }

    func client(_ field: ForwardedClientField, _ values: String...) -> ForwardedNode? {
        ForwardedClient.client(values.map { header(field.rawValue, $0) }, field: field, isTrusted: trusted)
    }

    @Test func xForwardedFor() {
        #expect(client(.xForwardedFor, "192.0.2.7") == .address([192, 0, 2, 7], port: nil))
        // The client's own claim stands to the left of what the proxy appended.
        #expect(client(.xForwardedFor, "198.51.100.1, 192.0.2.7") == .address([192, 0, 2, 7], port: nil))
        #expect(client(.xForwardedFor, "not an address, 192.0.2.7, 10.1.1.1") == .address([192, 0, 2, 7], port: nil))
        #expect(client(.xForwardedFor, "198.51.100.1", "192.0.2.7 , 10.0.0.2") == .address([192, 0, 2, 7], port: nil))
        #expect(client(.xForwardedFor, "192.0.2.7:4711") == .address([192, 0, 2, 7], port: 4711))
        #expect(client(.xForwardedFor, "[2001:db8::7]:443") == .address([0x20, 1, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7], port: 443))
        #expect(client(.xForwardedFor, "2001:db8::7") == .address([0x20, 1, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7], port: nil))
        #expect(client(.xForwardedFor, "192.0.2.7, unknown") == .unidentified)
        #expect(client(.xForwardedFor, "10.0.0.9, 10.0.0.8") == .address([10, 0, 0, 9], port: nil), "all trusted: the left-most")
        #expect(client(.xForwardedFor, "") == nil)
        #expect(ForwardedClient.client([header("Host", "x")], field: .xForwardedFor, isTrusted: trusted) == nil)
        #expect(client(.xForwardedFor, "01.2.3.4") == .unidentified)
        #expect(client(.xForwardedFor, "1.2.3.4:99999") == .unidentified)
        #expect(client(.xForwardedFor, "[::1") == .unidentified)
    }

    @Test func forwarded() {
        #expect(client(.forwarded, "for=192.0.2.60;proto=https;by=203.0.113.43") == .address([192, 0, 2, 60], port: nil))
        #expect(client(.forwarded, "For=\"[2001:db8:cafe::17]:4711\"") == .address([0x20, 1, 0x0d, 0xb8, 0xca, 0xfe] + [UInt8](repeating: 0, count: 9) + [0x17], port: 4711))
        #expect(client(.forwarded, "for=198.51.100.1, for=192.0.2.43, for=10.0.0.1;proto=https") == .address([192, 0, 2, 43], port: nil))
        #expect(client(.forwarded, "for=\"_gazonk\"") == .unidentified)
        #expect(client(.forwarded, "for=unknown, for=10.0.0.1") == .unidentified)
        #expect(client(.forwarded, "proto=https") == .unidentified)
        // A quoted comma in a client-written element does not shift the elements.
        #expect(client(.forwarded, "for=\"1.2.3.4, for=10.0.0.1\", for=192.0.2.43") == .address([192, 0, 2, 43], port: nil))
        #expect(client(.forwarded, "for=\"192.0.2.43") == .unidentified)
    }

    @Test func randomListsNeverCrash() {
        var rng = SplitMix64(seed: 0x16_0004)
        let alphabet = Array("0123456789abcdef.:[],;=\" forFOR_unknown\t".utf8)
        for _ in 0..<5000 {
            let field = ForwardedClientField.allCases.randomElement(using: &rng)!
            let text = String(decoding: (0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            if case .address(let bytes, _)? = ForwardedClient.client([header(field.rawValue, text)], field: field, isTrusted: trusted) {
                #expect(bytes.count == 4 || bytes.count == 16)
            }
        }
    }
}
