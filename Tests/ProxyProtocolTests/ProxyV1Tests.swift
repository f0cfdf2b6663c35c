import ProxyProtocol
import Testing

@Suite struct ProxyV1Tests {
    @Test func tcp4() throws {
        let input = bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")
        let result = ProxyHeaderParser.parse(input + bytes("\u{16}\u{3}\u{1}"))
        let header = try #require(result.header)
        #expect(result.length == input.count)
        #expect(header.version == 1)
        #expect(header.command == .proxy)
        #expect(header.source == ProxyAddress(family: .inet, address: [192, 168, 0, 1], port: 56324))
        #expect(header.destination == ProxyAddress(family: .inet, address: [192, 168, 0, 11], port: 443))
        #expect(header.source?.description == "192.168.0.1:56324")
        #expect(header.destination?.host == "192.168.0.11")
    }

    @Test func tcp6WithCanonicalDescriptions() throws {
        let header = try #require(ProxyHeaderParser.parse(validHeaders[2]).header)
        #expect(header.source?.family == .inet6)
        #expect(header.source?.description == "[2001:db8::1]:1")
        #expect(header.destination?.description == "[2001:db8::2]:65535")
        #expect(header.destination?.address == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2])
        let mapped = try #require(ProxyHeaderParser.parse(validHeaders[3]).header)
        #expect(mapped.source?.description == "[::ffff:10.0.0.1]:40000")
        #expect(mapped.destination?.description == "[::1]:8443")
    }

    @Test func unknownHasNoAddresses() throws {
        for input in [validHeaders[4], validHeaders[5]] {
            let result = ProxyHeaderParser.parse(input)
            let header = try #require(result.header)
            #expect(header == ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil))
            #expect(result.length == input.count)
        }
        #expect(validHeaders[5].count == 107)  // the spec's worst case
    }

    @Test func everyTruncationNeedsMore() {
        for input in validHeaders {
            for n in 0..<input.count {
                let result = ProxyHeaderParser.parse(Array(input[0..<n]))
                #expect(result.isNeedMore, "prefix \(n) of \(input): \(result)")
            }
        }
    }

    @Test func invalidPrefixesAreRefusedEarly() {
        #expect(ProxyHeaderParser.parse(bytes("PRO")).isNeedMore)
        #expect(ProxyHeaderParser.parse(bytes("PRX")).error?.code == .notProxyProtocol)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP")).isNeedMore)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCX")).error?.code == .v1Protocol)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP4 1.2.3.")).isNeedMore)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP4 1.2.3.a")).error?.code == .v1Address)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 6553")).isNeedMore)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 65536")).error?.code == .v1Port)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP6 1:2:3:4:5:6:7:8")).isNeedMore)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP6 1:2:3:4:5:6:7:8:")).error?.code == .v1Address)
        #expect(ProxyHeaderParser.parse(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r")).isNeedMore)
    }

    static let malformed: [(String, ProxyProtocolError.Code)] = [
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", .v1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r", .v1Syntax),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", .v1Syntax),
        ("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", .v1Protocol),
        ("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", .v1Syntax),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", .v1Port),
        ("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", .v1Protocol),
        ("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", .v1Protocol),
        ("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", .v1Protocol),
        ("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP4 ::1 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 1::2::3 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 12345:: ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 :1:: ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 ::: ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 1:2:3:4::5:6:7:8 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 ::1.2.3 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 ::ffff:1.2.3.4.5 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 [::1] ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", .v1Address),
        ("PROXY TCP6 1: ::1 1 2\r\n", .v1Address),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", .v1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", .v1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", .v1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999999999999999\r\n", .v1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", .v1Syntax),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", .v1Syntax),
        ("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", .v1Syntax),
        ("PROXY TCP4\r\n", .v1Syntax),
        ("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", .v1Address),
        ("PROXY UNKNOWN\n", .v1Protocol),
        ("PROXY UNKNOWN x\ny\r\n", .v1Syntax),
        ("PROXY UNKNOWNX\r\n", .v1Protocol),
        ("PROXY UNKNOWN " + String(repeating: "x", count: 100), .tooLong),
        ("PROXY\r\n", .notProxyProtocol),
        ("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", .notProxyProtocol),
        ("GET / HTTP/1.1\r\n", .notProxyProtocol),
        ("\u{16}\u{3}\u{1}\u{2}\u{0}", .notProxyProtocol),
    ]

    @Test(arguments: malformed)
    func malformedHeaders(_ input: String, _ code: ProxyProtocolError.Code) {
        let result = ProxyHeaderParser.parse(bytes(input))
        #expect(result.error?.code == code, "\(input.debugDescription): \(result)")
    }

    @Test func lineOfExactly107BytesIsTheLimit() {
        let ok = "PROXY UNKNOWN " + String(repeating: "x", count: 91) + "\r\n"
        #expect(ok.utf8.count == 107)
        #expect(ProxyHeaderParser.parse(bytes(ok)).length == 107)
        let long = "PROXY UNKNOWN " + String(repeating: "x", count: 92) + "\r\n"
        #expect(ProxyHeaderParser.parse(bytes(long)).error?.code == .tooLong)
        #expect(ProxyHeaderParser.parse(Array(bytes(long).prefix(106))).isNeedMore)
    }

    @Test func errorEqualityComparesCodesOnly() {
        #expect(ProxyProtocolError(code: .v1Port, reason: "a") == ProxyProtocolError(code: .v1Port, reason: "b", line: 1))
        #expect(ProxyProtocolError(code: .v1Port, reason: "a") != ProxyProtocolError(code: .v1Address, reason: "a"))
    }
}
