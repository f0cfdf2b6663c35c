/// PROXY protocol version 2, the binary form (proxy-protocol.txt §2.2): a 12-byte
/// signature, version/command, family/transport, a 16-bit length, then the address block
/// and TLVs.
enum ProxyV2 {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let fixedLength = 16

    /// nil while the bytes are a valid prefix of a header.
    static func parse(_ b: UnsafeRawBufferPointer) throws(ProxyProtocolError) -> (ProxyHeader, Int)? {
        for (i, expected) in signature.enumerated() {
            guard i < b.count else { return nil }
            guard b[i] == expected else {
                throw ProxyProtocolError(code: .notProxyProtocol, reason: "no PROXY protocol v1 or v2 header")
            }
        }

        guard b.count > 12 else { return nil }
        guard b[12] >> 4 == 2 else {
            throw ProxyProtocolError(code: .v2Version, reason: "v2: version nibble \(b[12] >> 4)")
        }
        let command: ProxyCommand
        switch b[12] & 0x0F {
        case 0: command = .local
        case 1: command = .proxy
        default: throw ProxyProtocolError(code: .v2Command, reason: "v2: command \(b[12] & 0x0F)")
        }

        guard b.count > 13 else { return nil }
        // "Other values are unspecified and must not be emitted in version 2 of this protocol
        // and must be rejected as invalid by receivers." Checked for LOCAL too.
        let addressLength: Int
        switch b[13] {
        case 0x00: addressLength = 0           // AF_UNSPEC
        case 0x11, 0x12: addressLength = 12    // AF_INET, STREAM or DGRAM
        case 0x21, 0x22: addressLength = 36    // AF_INET6
        case 0x31, 0x32: addressLength = 216   // AF_UNIX
        default: throw ProxyProtocolError(code: .v2Family, reason: "v2: family/transport byte \(b[13])")
        }

        guard b.count >= fixedLength else { return nil }
        let length = Int(b[14]) << 8 | Int(b[15])
        let total = fixedLength + length
        guard total <= ProxyHeaderParser.maxHeaderLength else {
            throw ProxyProtocolError(code: .tooLong, reason: "v2: \(total) bytes, limit \(ProxyHeaderParser.maxHeaderLength)")
        }

        // LOCAL: "the receiver must accept this connection as valid and must use the real
        // connection endpoints and discard the protocol block including the family".
        // AF_UNSPEC: the address information is to be ignored, so there is no TLV boundary.
        guard command == .proxy && b[13] != 0x00 else {
            guard b.count >= total else { return nil }
            return (ProxyHeader(version: 2, command: command, source: nil, destination: nil), total)
        }
        guard length >= addressLength else {
            throw ProxyProtocolError(code: .v2Length, reason: "v2: length \(length) shorter than the \(addressLength)-byte address block")
        }

        // TLVs (type, 16-bit length, value) must tile the rest exactly. Walk what has
        // arrived so a bad one is refused before the rest is awaited.
        var p = fixedLength + addressLength
        while p < total {
            guard p + 3 <= total else {
                throw ProxyProtocolError(code: .v2TLV, reason: "v2: truncated TLV header at offset \(p)")
            }
            guard p + 3 <= b.count else { return nil }
            let valueLength = Int(b[p + 1]) << 8 | Int(b[p + 2])
            guard p + 3 + valueLength <= total else {
                throw ProxyProtocolError(code: .v2TLV, reason: "v2: TLV at offset \(p) overruns the header")
            }
            p += 3 + valueLength
        }
        guard b.count >= total else { return nil }

        let source: ProxyAddress?
        let destination: ProxyAddress?
        switch b[13] {
        case 0x11:
            source = ProxyAddress(family: .inet, address: Array(b[16..<20]), port: port(b, 24))
            destination = ProxyAddress(family: .inet, address: Array(b[20..<24]), port: port(b, 26))
        case 0x21:
            source = ProxyAddress(family: .inet6, address: Array(b[16..<32]), port: port(b, 48))
            destination = ProxyAddress(family: .inet6, address: Array(b[32..<48]), port: port(b, 50))
        default:
            // Datagram and AF_UNIX: valid, but not IP endpoints of a stream; the spec lets a
            // receiver fall back to UNSPEC for combinations it does not support.
            source = nil
            destination = nil
        }
        return (ProxyHeader(version: 2, command: .proxy, source: source, destination: destination), total)
    }

    private static func port(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(b[offset]) << 8 | UInt16(b[offset + 1])
    }
}
