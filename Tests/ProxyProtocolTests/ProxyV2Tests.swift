import ProxyProtocol
import Testing

@Suite struct ProxyV2Tests {
    @Test func proxyInet() throws {
        let input = validHeaders[6]
        let result = ProxyHeaderParser.parse(input + [0x16, 0x03, 0x01])
        let header = try #require(result.header)
        #expect(result.length == 16 + 12)
        #expect(header.version == 2)
        #expect(header.command == .proxy)
        #expect(header.source?.description == "10.0.0.1:51234")
        #expect(header.destination?.description == "10.0.0.2:443")
    }

    @Test func proxyInet6() throws {
        let result = ProxyHeaderParser.parse(validHeaders[7])
        let header = try #require(result.header)
        #expect(result.length == 16 + 36)
        #expect(header.source?.description == "[2001:db8::1]:1")
        #expect(header.destination?.description == "[2001:db8::2]:2")
        #expect(header.source?.family == .inet6)
    }

    @Test func tlvsAreSkipped() throws {
        let input = validHeaders[8]
        let result = ProxyHeaderParser.parse(input)
        #expect(result.length == input.count)
        #expect(result.header?.source?.description == "1.2.3.4:1")
        #expect(result.header?.destination?.description == "5.6.7.8:2")
    }

    @Test func localIgnoresTheAddressBlock() throws {
        #expect(ProxyHeaderParser.parse(validHeaders[9]) ==
            .header(ProxyHeader(version: 2, command: .local, source: nil, destination: nil), length: 16))
        let withAddresses = ProxyHeaderParser.parse(validHeaders[10])
        #expect(withAddresses.header == ProxyHeader(version: 2, command: .local, source: nil, destination: nil))
        #expect(withAddresses.length == 28)
        // LOCAL with a short block is fine too: the block is discarded.
        #expect(ProxyHeaderParser.parse(v2(0x20, 0x21, [1, 2])).length == 18)
    }

    @Test func familiesWithoutIPEndpointsGiveNilAddresses() throws {
        for input in [validHeaders[11], validHeaders[12], validHeaders[13], v2(0x21, 0x32, [UInt8](repeating: 0, count: 216)),
                      v2(0x21, 0x22, [UInt8](repeating: 0, count: 36))] {
            let result = ProxyHeaderParser.parse(input)
            #expect(result.header == ProxyHeader(version: 2, command: .proxy, source: nil, destination: nil), "\(input)")
            #expect(result.length == input.count)
        }
    }

    @Test func everyTruncationNeedsMore() {
        for input in validHeaders where input.first == 0x0D {
            for n in 0..<input.count {
                #expect(ProxyHeaderParser.parse(Array(input[0..<n])).isNeedMore, "prefix \(n)")
            }
        }
    }

    static let inet: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]

    static let malformed: [(String, [UInt8], ProxyProtocolError.Code)] = [
        ("wrong signature byte", [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x55, 0x0A, 0x21, 0x11, 0, 12] + inet, .notProxyProtocol),
        ("signature prefix then garbage", [0x0D, 0x0A, 0x0D, 0x0B], .notProxyProtocol),
        ("HTTP request", bytes("GET / HTTP/1.1\r\n"), .notProxyProtocol),
        ("TLS ClientHello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01], .notProxyProtocol),
        ("version 1 nibble", v2(0x11, 0x11, inet), .v2Version),
        ("version 3 nibble", v2(0x31, 0x11, inet), .v2Version),
        ("version 0 nibble", v2(0x01, 0x11, inet), .v2Version),
        ("command 2", v2(0x22, 0x11, inet), .v2Command),
        ("command 15", v2(0x2F, 0x11, inet), .v2Command),
        ("family 0x13", v2(0x21, 0x13, inet), .v2Family),
        ("family 0x41", v2(0x21, 0x41, inet), .v2Family),
        ("family 0x10 (inet, unspec transport)", v2(0x21, 0x10, inet), .v2Family),
        ("family 0x01 (unspec, stream)", v2(0x21, 0x01, inet), .v2Family),
        ("LOCAL with undefined family", v2(0x20, 0x99, []), .v2Family),
        ("inet block too short", v2(0x21, 0x11, Array(inet[0..<11])), .v2Length),
        ("inet6 length 12", v2(0x21, 0x21, inet), .v2Length),
        ("unix length 100", v2(0x21, 0x31, [UInt8](repeating: 0, count: 100)), .v2Length),
        ("length over the cap", v2(0x21, 0x11, inet, length: 5000), .tooLong),
        ("length 0xFFFF", v2(0x20, 0x00, [], length: 0xFFFF), .tooLong),
        ("TLV header truncated", v2(0x21, 0x11, inet + [0x01, 0x00]), .v2TLV),
        ("single trailing byte", v2(0x21, 0x11, inet + [0x04]), .v2TLV),
        ("TLV overruns the block", v2(0x21, 0x11, inet + [0x01, 0x00, 0x05, 0x61]), .v2TLV),
        ("second TLV overruns", v2(0x21, 0x11, inet + tlv(0x01, [0x61]) + [0x02, 0xFF, 0xFF]), .v2TLV),
        ("TLV overrun seen before the rest arrives", Array(v2(0x21, 0x11, inet + [0x01, 0x10, 0x00] + [UInt8](repeating: 0, count: 10)).prefix(31)), .v2TLV),
    ]

    @Test(arguments: malformed)
    func malformedHeaders(_ name: String, _ input: [UInt8], _ code: ProxyProtocolError.Code) {
        let result = ProxyHeaderParser.parse(input)
        #expect(result.error?.code == code, "\(name): \(result)")
    }

    @Test func invalidPrefixesAreRefusedBeforeTheLength() {
        #expect(ProxyHeaderParser.parse(v2Signature + [0x31]).error?.code == .v2Version)
        #expect(ProxyHeaderParser.parse(v2Signature + [0x21, 0x55]).error?.code == .v2Family)
        #expect(ProxyHeaderParser.parse(v2Signature + [0x21, 0x11, 0x00]).isNeedMore)
        #expect(ProxyHeaderParser.parse(v2Signature + [0x21, 0x11, 0x00, 0x04]).error?.code == .v2Length)
    }

    @Test func largestAcceptedHeader() {
        let payload = Self.inet + tlv(0x04, [UInt8](repeating: 0, count: ProxyHeaderParser.maxHeaderLength - 16 - 12 - 3))
        let input = v2(0x21, 0x11, payload)
        #expect(input.count == ProxyHeaderParser.maxHeaderLength)
        #expect(ProxyHeaderParser.parse(input).length == ProxyHeaderParser.maxHeaderLength)
    }
}
