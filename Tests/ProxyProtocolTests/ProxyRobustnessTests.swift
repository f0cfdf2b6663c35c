import ProxyProtocol
import Testing

/// Property-style checks with a fixed-seed generator: any bytes give an answer, a header
/// never claims more bytes than it was given, and a decision made on a prefix stands.
@Suite(.timeLimit(.minutes(2))) struct ProxyRobustnessTests {
    func randomInput(_ rng: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            return (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 1:  // v2 signature, then random fields and a small length
            var input = v2Signature + [UInt8.random(in: 0x20...0x22, using: &rng),
                                       [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x13].randomElement(using: &rng)!,
                                       0, UInt8.random(in: 0...60, using: &rng)]
            input += (0..<Int.random(in: 0...70, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return input
        case 2:  // v1-ish text
            let alphabet = Array("PROXY TCP46UNKOW0123456789abcdef:. \r\n".utf8)
            return bytes("PROXY ") + (0..<Int.random(in: 0...110, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
        default:  // a valid header with a mutation
            var input = validHeaders.randomElement(using: &rng)!
            let at = Int.random(in: 0..<input.count, using: &rng)
            if Bool.random(using: &rng) {
                input[at] = UInt8.random(in: 0...255, using: &rng)
            } else {
                input.remove(at: at)
            }
            return input
        }
    }

    @Test func randomInputsNeverCrashAndAreConsistent() {
        var rng = SplitMix64(seed: 0x9_0001)
        var outcomes = [0, 0, 0]
        for _ in 0..<10_000 {
            let input = randomInput(&rng)
            let whole = ProxyHeaderParser.parse(input)
            switch whole {
            case .needMore: outcomes[0] += 1
            case .header(_, let length):
                outcomes[1] += 1
                #expect(length > 0 && length <= input.count && length <= ProxyHeaderParser.maxHeaderLength)
            case .invalid: outcomes[2] += 1
            }
            for _ in 0..<3 {
                let n = Int.random(in: 0...input.count, using: &rng)
                let partial = ProxyHeaderParser.parse(Array(input[0..<n]))
                if !partial.isNeedMore {
                    #expect(partial == whole, "prefix \(n) of \(input)")
                }
            }
        }
        #expect(outcomes.allSatisfy { $0 > 100 }, "\(outcomes)")
    }

    @Test func unsafeBufferOverloadMatchesArrayOverload() {
        for input in validHeaders {
            #expect(input.withUnsafeBytes { ProxyHeaderParser.parse($0) } == ProxyHeaderParser.parse(input))
        }
    }
}
