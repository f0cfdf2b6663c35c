@testable import ForwardedHeaders
import HTTP1
import Testing

/// Property-style checks with a fixed-seed generator: random certificates of random sizes
/// survive every format; truncated, mutated and random field values give a value or a typed
/// error, never a crash; and a value that parses carries only what was sent.
@Suite(.timeLimit(.minutes(2))) struct ForwardedRobustnessTests {
    @Test func randomCertificatesRoundTripInEveryFormat() throws {
        var rng = SplitMix64(seed: 0x16_0001)
        for _ in 0..<300 {
            let leaf = randomBytes(&rng, count: Int.random(in: 1...3000, using: &rng))
            let chain = (0..<Int.random(in: 0...ForwardedCertificateParser.maxChainLength, using: &rng)).map { _ in
                randomBytes(&rng, count: Int.random(in: 1...2000, using: &rng))
            }
            for format in ForwardedCertificateFormat.allCases {
                let sent = ForwardedCertificate(leaf: leaf, chain: format == .nginx ? [] : chain)
                var expected = sent
                // XFCC's Chain repeats the leaf first; a chain starting with the leaf's bytes is read as that.
                if format == .xfcc, expected.chain.first == leaf { expected.chain.removeFirst() }
                #expect(try parse(encode(sent, format), format).get() == expected, "\(format)")
            }
        }
    }

    @Test func mutatedAndTruncatedValuesNeverCrash() {
        var rng = SplitMix64(seed: 0x16_0002)
        var outcomes: [String: Int] = [:]
        let alphabet = Array(":;,=\"\\%-+/ ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef()\t".utf8)
        for _ in 0..<4000 {
            let format = ForwardedCertificateFormat.allCases.randomElement(using: &rng)!
            let chain = (0..<Int.random(in: 0...2, using: &rng)).map { _ in fakeDER(UInt8.random(in: 0...255, using: &rng), count: 60) }
            var headers = encode(ForwardedCertificate(leaf: fakeDER(UInt8.random(in: 0...255, using: &rng), count: 90), chain: chain), format)
            let index = Int.random(in: 0..<headers.count, using: &rng)
            var value = Array(headers[index].value.utf8)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0 where !value.isEmpty:
                value = Array(value.prefix(Int.random(in: 0..<value.count, using: &rng)))
            case 1 where !value.isEmpty:
                value[Int.random(in: 0..<value.count, using: &rng)] = alphabet.randomElement(using: &rng)!
            case 2:
                value.insert(alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...value.count, using: &rng))
            default:
                value = (0..<Int.random(in: 0...80, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            }
            headers[index].value = String(decoding: value, as: UTF8.self)
            switch parse(headers, format) {
            case .success(let certificate):
                outcomes["value", default: 0] += 1
                if let certificate {
                    #expect(!certificate.leaf.isEmpty)
                    #expect(certificate.chain.count <= ForwardedCertificateParser.maxChainLength)
                    #expect(certificate.chain.allSatisfy { !$0.isEmpty })
                }
            case .failure(let error):
                outcomes[error.code.rawValue, default: 0] += 1
                #expect(!error.reason.isEmpty)
            }
        }
        #expect(outcomes["value", default: 0] > 50, "\(outcomes)")
        #expect(outcomes.count > 5, "\(outcomes)")
    }

    @Test func base64MatchesTheEncoderAndRefusesWhatNoEncoderWrites() {
        var rng = SplitMix64(seed: 0x16_0003)
        for length in 0..<200 {
            let bytes = randomBytes(&rng, count: length)
            let text = Array(Base64Text.encode(bytes).utf8)
            #expect(Base64Text.decode(text) == bytes)
            #expect(Base64Text.decode(text.filter { $0 != UInt8(ascii: "=") }) == bytes)
            if !text.isEmpty {
                // One character fewer never gives the same bytes back; one more is no encoding.
                #expect(Base64Text.decode(text.dropLast()) != bytes || text.last == UInt8(ascii: "="))
                #expect(Base64Text.decode(text + [UInt8(ascii: "A")]) == nil)
            }
        }
        #expect(Base64Text.decode(Array("A".utf8)) == nil)
        #expect(Base64Text.decode(Array("AB=C".utf8)) == nil)
        #expect(Base64Text.decode(Array("AB===".utf8)) == nil)
        #expect(Base64Text.decode(Array("A B=".utf8)) == nil)
    }
}
