import HTTP1
import Testing

/// Property-style checks with a fixed-seed generator: whatever the bytes, the parser
/// returns (no trap, no hang), never claims more bytes than it was given, and a result
/// decided on a prefix never changes when more bytes arrive.
@Suite(.timeLimit(.minutes(2))) struct ParserRobustnessTests {
    static let alphabet = bytes("GETPOSHTP/1.0 \r\n:Hostcnt-Lgh\t%?=&*0123456789abc\u{0}\u{7F}é")
    static let limits = HTTPLimits(maxHeaderBytes: 256, maxBodyBytes: 64)

    func randomInput(_ rng: inout SplitMix64) -> [UInt8] {
        let length = Int.random(in: 0...160, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0:  // uniform bytes
            return (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 1:  // HTTP-ish alphabet
            return (0..<length).map { _ in Self.alphabet.randomElement(using: &rng)! }
        default:  // a valid request with a few mutations
            var input = bytes(validRequests.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...input.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where at < input.count: input[at] = Self.alphabet.randomElement(using: &rng)!
                case 1: input.insert(Self.alphabet.randomElement(using: &rng)!, at: at)
                case 2 where at < input.count: input.remove(at: at)
                default: input = Array(input[0..<at]) + input  // duplicate a prefix
                }
            }
            return input
        }
    }

    func check(_ input: [UInt8], _ rng: inout SplitMix64) {
        let whole = HTTPRequestParser.parse(input, limits: Self.limits)
        if case .request(_, let consumed) = whole {
            #expect(consumed > 0 && consumed <= input.count)
        }
        // Monotonicity on a few prefixes.
        for _ in 0..<3 {
            let n = Int.random(in: 0...input.count, using: &rng)
            let partial = HTTPRequestParser.parse(Array(input[0..<n]), limits: Self.limits)
            if !partial.isNeedMore {
                #expect(partial == whole, "prefix \(n) of \(input) decided \(partial), whole gave \(whole)")
            }
        }
    }

    @Test func randomInputsNeverCrashAndAreConsistent() {
        var rng = SplitMix64(seed: 0x5EED_0001)
        var outcomes = [0, 0, 0]
        for _ in 0..<10_000 {
            let input = randomInput(&rng)
            check(input, &rng)
            switch HTTPRequestParser.parse(input, limits: Self.limits) {
            case .needMore: outcomes[0] += 1
            case .request: outcomes[1] += 1
            case .error: outcomes[2] += 1
            }
        }
        // The generator must exercise every outcome, or the loop proves little.
        #expect(outcomes.allSatisfy { $0 > 100 }, "\(outcomes)")
    }

    @Test func randomTruncationsOfValidRequestsNeedMore() {
        var rng = SplitMix64(seed: 0x5EED_0002)
        for _ in 0..<2_000 {
            let input = bytes(validRequests.randomElement(using: &rng)!)
            let cut = Int.random(in: 0..<input.count, using: &rng)
            #expect(HTTPRequestParser.parse(Array(input[0..<cut]), limits: HTTPLimits()).isNeedMore)
        }
    }

    /// A connection's view: random chunks appended to a buffer, requests cut off the front.
    @Test func randomChunkingOfPipelinedStreamYieldsSameRequests() throws {
        var rng = SplitMix64(seed: 0x5EED_0003)
        for _ in 0..<300 {
            let count = Int.random(in: 1...4, using: &rng)
            let sources = (0..<count).map { _ in validRequests.randomElement(using: &rng)! }
            let stream = sources.flatMap(bytes)
            let expected = try sources.map { try #require(parse($0).request) }

            var buffer: [UInt8] = []
            var got: [HTTPRequest] = []
            var offset = 0
            while offset < stream.count {
                let chunk = Int.random(in: 1...40, using: &rng)
                buffer += stream[offset..<min(stream.count, offset + chunk)]
                offset += chunk
                while case .request(let r, let consumed) = HTTPRequestParser.parse(buffer, limits: HTTPLimits()) {
                    got.append(r)
                    buffer.removeFirst(consumed)
                }
            }
            #expect(got == expected)
            #expect(buffer.isEmpty)
        }
    }
}
