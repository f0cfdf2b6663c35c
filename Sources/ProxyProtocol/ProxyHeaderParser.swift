public enum ProxyParseResult: Sendable, Equatable {
    /// The bytes so far are a valid beginning of a PROXY header.
    case needMore
    /// A complete header of `length` bytes; the connection's own data follows it.
    case header(ProxyHeader, length: Int)
    /// Not a valid PROXY header: close the connection.
    case invalid(ProxyProtocolError)
}

/// PROXY protocol v1 and v2 header parser (haproxy doc/proxy-protocol.txt), without I/O.
///
/// Call it with every byte received so far on a connection from a trusted proxy; it returns
/// `.needMore` only while those bytes are a prefix of some valid header, so a client that is
/// not a proxy is refused as soon as its bytes stop matching.
public enum ProxyHeaderParser {
    /// The most bytes a header may take. A v1 line is at most 107 bytes; a v2 header is
    /// 16 bytes plus its length field, and we refuse more than 4096 in total (the address
    /// block is at most 216 bytes; the rest is TLVs, and we use none of them).
    public static let maxHeaderLength = 4096

    public static func parse(_ bytes: [UInt8]) -> ProxyParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ProxyParseResult {
        guard let first = bytes.first else { return .needMore }
        do throws(ProxyProtocolError) {
            let header: (ProxyHeader, Int)?
            if first == ProxyV2.signature[0] {
                header = try ProxyV2.parse(bytes)
            } else if first == ProxyV1.prefix[0] {
                header = try ProxyV1.parse(bytes)
            } else {
                throw ProxyProtocolError(code: .notProxyProtocol, reason: "no PROXY protocol v1 or v2 header")
            }
            guard let (h, length) = header else { return .needMore }
            return .header(h, length: length)
        } catch {
            return .invalid(error)
        }
    }
}
