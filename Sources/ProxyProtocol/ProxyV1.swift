/// PROXY protocol version 1, the text form (proxy-protocol.txt §2.1):
/// "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF, or "PROXY UNKNOWN"
/// followed by anything up to CRLF; at most 107 bytes with the CRLF.
enum ProxyV1 {
    static let prefix: [UInt8] = Array("PROXY ".utf8)
    static let maxLength = 107

    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A
    private static let sp: UInt8 = 0x20

    /// nil while the bytes are a valid prefix of a header.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(ProxyProtocolError) -> (ProxyHeader, Int)? {
        // Never look beyond 107 bytes; running out of input there means the line is too long.
        var reader = Reader(bytes: UnsafeRawBufferPointer(rebasing: bytes.prefix(maxLength)))
        if let result = try reader.header() { return result }
        if bytes.count >= maxLength {
            throw ProxyProtocolError(code: .tooLong, reason: "v1 header without CRLF in the first \(maxLength) bytes")
        }
        return nil
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        mutating func header() throws(ProxyProtocolError) -> (ProxyHeader, Int)? {
            for (i, expected) in ProxyV1.prefix.enumerated() {
                guard i < bytes.count else { return nil }
                guard bytes[i] == expected else {
                    throw ProxyProtocolError(code: .notProxyProtocol, reason: "no PROXY protocol v1 or v2 header")
                }
            }
            position = ProxyV1.prefix.count

            let protocols = ["TCP4", "TCP6", "UNKNOWN"].map { Array($0.utf8) }
            guard let (proto, end) = token() else {
                let partial = bytes[position...]
                guard protocols.contains(where: { $0.starts(with: partial) }) else { throw syntax(.v1Protocol, "unknown protocol") }
                return nil
            }
            let name = Array(proto)
            if name == protocols[2] { return try unknown(after: end) }
            guard name == protocols[0] || name == protocols[1] else { throw syntax(.v1Protocol, "unknown protocol") }
            guard end == ProxyV1.sp else { throw syntax(.v1Syntax, "protocol not followed by a single space") }
            let family: ProxyAddress.Family = name == protocols[0] ? .inet : .inet6

            guard let source = try address(family, terminator: ProxyV1.sp),
                  let destination = try address(family, terminator: ProxyV1.sp),
                  let sourcePort = try port(terminator: ProxyV1.sp),
                  let destinationPort = try port(terminator: ProxyV1.cr),
                  try lineFeed()
            else { return nil }
            let header = ProxyHeader(
                version: 1, command: .proxy,
                source: ProxyAddress(family: family, address: source, port: sourcePort),
                destination: ProxyAddress(family: family, address: destination, port: destinationPort))
            return (header, position)
        }

        /// "UNKNOWN" then CRLF, or a space and anything (no CR/LF) up to CRLF: the spec says
        /// the receiver must ignore it.
        mutating func unknown(after terminator: UInt8) throws(ProxyProtocolError) -> (ProxyHeader, Int)? {
            if terminator == ProxyV1.sp {
                while position < bytes.count, bytes[position] != ProxyV1.cr {
                    if bytes[position] == ProxyV1.lf { throw syntax(.v1Syntax, "bare LF") }
                    position += 1
                }
                guard position < bytes.count else { return nil }
                position += 1
            }
            guard try lineFeed() else { return nil }
            return (ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil), position)
        }

        /// The bytes up to the next SP or CR and that terminator (consumed), or nil at the end
        /// of the input (position unchanged).
        mutating func token() -> (UnsafeRawBufferPointer.SubSequence, UInt8)? {
            var i = position
            while i < bytes.count {
                let b = bytes[i]
                if b == ProxyV1.sp || b == ProxyV1.cr {
                    let token = bytes[position..<i]
                    position = i + 1
                    return (token, b)
                }
                i += 1
            }
            return nil
        }

        mutating func address(_ family: ProxyAddress.Family, terminator: UInt8) throws(ProxyProtocolError) -> [UInt8]? {
            func parseText(_ text: UnsafeRawBufferPointer.SubSequence) -> IPAddressText.Parse {
                family == .inet ? IPAddressText.parseIPv4(text) : IPAddressText.parseIPv6(text)
            }
            guard let (text, end) = token() else {
                if parseText(bytes[position...]) == .invalid { throw syntax(.v1Address, "malformed address") }
                return nil
            }
            guard case .complete(let address) = parseText(text) else { throw syntax(.v1Address, "malformed address") }
            guard end == terminator else { throw syntax(.v1Syntax, "wrong separator after an address") }
            return address
        }

        /// A decimal port 0-65535 without leading zeros.
        mutating func port(terminator: UInt8) throws(ProxyProtocolError) -> UInt16? {
            func value(_ text: UnsafeRawBufferPointer.SubSequence) throws(ProxyProtocolError) -> UInt16? {
                if text.count > 1 && text.first == UInt8(ascii: "0") { throw syntax(.v1Port, "port has a leading zero") }
                var v = 0
                for b in text {
                    guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { throw syntax(.v1Port, "port is not decimal") }
                    v = v * 10 + Int(b - UInt8(ascii: "0"))
                    if v > 65535 { throw syntax(.v1Port, "port above 65535") }
                }
                return text.isEmpty ? nil : UInt16(v)
            }
            guard let (text, end) = token() else {
                _ = try value(bytes[position...])
                return nil
            }
            guard let port = try value(text) else { throw syntax(.v1Port, "empty port") }
            guard end == terminator else { throw syntax(.v1Syntax, "wrong separator after a port") }
            return port
        }

        /// After a CR: true when the LF follows, false when the input ends first.
        mutating func lineFeed() throws(ProxyProtocolError) -> Bool {
            guard position < bytes.count else { return false }
            guard bytes[position] == ProxyV1.lf else { throw syntax(.v1Syntax, "CR not followed by LF") }
            position += 1
            return true
        }

        func syntax(_ code: ProxyProtocolError.Code, _ reason: String) -> ProxyProtocolError {
            ProxyProtocolError(code: code, reason: "v1: \(reason)")
        }
    }
}
