#if canImport(Glibc)
import Glibc
#endif
@testable import ProxyProtocol
import Testing

@Suite struct IPAddressTextTests {
    func v6(_ s: String) -> [UInt8]? {
        if case .complete(let b) = IPAddressText.parseIPv6(Array(s.utf8)) { return b }
        return nil
    }

    @Test(arguments: [
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),      // RFC 5952 §4.2.2: one zero group stays
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),                // §4.2.3: longest run
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),          // §4.2.3: first of equal runs
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),               // §5: IPv4-mapped
        ("::FFFF:C000:0201", "::ffff:192.0.2.1"),
        ("::192.0.2.1", "::c000:201"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("fe80::abcd:0:0:1", "fe80::abcd:0:0:1"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func canonicalForm(_ input: String, _ canonical: String) throws {
        let parsed = try #require(v6(input), "\(input)")
        #expect(IPAddressText.formatIPv6(parsed) == canonical)
    }

    @Test func prefixClassification() {
        #expect(IPAddressText.parseIPv6([]) == .prefix)
        #expect(IPAddressText.parseIPv6(Array(":".utf8)) == .prefix)
        #expect(IPAddressText.parseIPv6(Array("1:".utf8)) == .prefix)
        #expect(IPAddressText.parseIPv6(Array("1:2".utf8)) == .prefix)
        #expect(IPAddressText.parseIPv6(Array("::1.2.".utf8)) == .prefix)
        #expect(IPAddressText.parseIPv6(Array(":::".utf8)) == .invalid)
        #expect(IPAddressText.parseIPv6(Array("1:2:3:4:5:6:7:8:".utf8)) == .invalid)
        #expect(IPAddressText.parseIPv4([]) == .prefix)
        #expect(IPAddressText.parseIPv4(Array("1.2.3.".utf8)) == .prefix)
        #expect(IPAddressText.parseIPv4(Array("1.2.3.4".utf8)) == .complete([1, 2, 3, 4]))
        #expect(IPAddressText.parseIPv4(Array("0.0.0.0".utf8)) == .complete([0, 0, 0, 0]))
        #expect(IPAddressText.parseIPv4(Array("00.0.0.0".utf8)) == .invalid)
    }

    /// Every prefix of a formatted address is a valid prefix, and the address round-trips.
    @Test func randomAddressesRoundTrip() throws {
        var rng = SplitMix64(seed: 0xADD8_0001)
        for _ in 0..<3_000 {
            // Plenty of zero groups so "::" shows up in every position.
            let groups = (0..<8).map { _ in Bool.random(using: &rng) ? 0 : UInt16.random(in: 0...0xFFFF, using: &rng) }
            let address = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            let text = IPAddressText.formatIPv6(address)
            #expect(v6(text) == address, "\(text)")
            let utf8 = Array(text.utf8)
            for n in 0..<utf8.count {
                #expect(IPAddressText.parseIPv6(utf8[0..<n]) != .invalid, "\(text) prefix \(n)")
            }
        }
    }

    #if canImport(Glibc)
    /// Differential check against glibc inet_pton: random strings, and mutated valid ones.
    @Test func agreesWithInetPton() {
        var rng = SplitMix64(seed: 0xADD8_0002)
        let alphabet6 = Array("0123456789abcdefABCDEF:::..".utf8)
        let alphabet4 = Array("0123456789....".utf8)
        var accepted = [0, 0]
        for _ in 0..<20_000 {
            for (family, alphabet) in [(AF_INET6, alphabet6), (AF_INET, alphabet4)] {
                let isV6 = family == AF_INET6
                var text: [UInt8]
                if Bool.random(using: &rng) {
                    text = (0..<Int.random(in: 1...(isV6 ? 20 : 16), using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
                } else {
                    let raw = (0..<(isV6 ? 16 : 4)).map { _ in Bool.random(using: &rng) ? 0 : UInt8.random(in: 0...255, using: &rng) }
                    text = Array((isV6 ? IPAddressText.formatIPv6(raw) : IPAddressText.formatIPv4(raw)).utf8)
                    let at = Int.random(in: 0..<text.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: text[at] = alphabet.randomElement(using: &rng)!
                    case 1: text.insert(alphabet.randomElement(using: &rng)!, at: at)
                    case 2: text.remove(at: at)
                    default: break
                    }
                }
                let string = String(decoding: text, as: UTF8.self)
                var buffer = [UInt8](repeating: 0, count: 16)
                let libc = inet_pton(family, string, &buffer) == 1 ? Array(buffer.prefix(isV6 ? 16 : 4)) : nil
                let parsed = isV6 ? IPAddressText.parseIPv6(text) : IPAddressText.parseIPv4(text)
                var ours: [UInt8]?
                if case .complete(let b) = parsed { ours = b }
                #expect(ours == libc, "\(string)")
                if libc != nil { accepted[isV6 ? 0 : 1] += 1 }
            }
        }
        #expect(accepted.allSatisfy { $0 > 1000 }, "\(accepted)")
    }
    #endif
}
