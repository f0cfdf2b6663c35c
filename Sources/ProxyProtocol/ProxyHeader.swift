public enum ProxyCommand: Sendable, Equatable, Hashable {
    /// v2 LOCAL: the proxy's own connection (health check); use the real socket endpoints.
    case local
    /// A relayed client connection.
    case proxy
}

/// An IP endpoint carried in a PROXY header.
public struct ProxyAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Equatable, Hashable { case inet, inet6 }

    public var family: Family
    /// 4 (inet) or 16 (inet6) bytes, network order.
    public var address: [UInt8]
    public var port: UInt16

    public init(family: Family, address: [UInt8], port: UInt16) {
        precondition(address.count == (family == .inet ? 4 : 16), "address length does not match the family")
        self.family = family
        self.address = address
        self.port = port
    }

    /// The address alone: dotted quad, or the RFC 5952 form of an IPv6 address.
    public var host: String {
        switch family {
        case .inet: IPAddressText.formatIPv4(address)
        case .inet6: IPAddressText.formatIPv6(address)
        }
    }

    /// "1.2.3.4:5678" or "[2001:db8::1]:443".
    public var description: String {
        switch family {
        case .inet: "\(host):\(port)"
        case .inet6: "[\(host)]:\(port)"
        }
    }
}

/// What a PROXY protocol header says about the connection it precedes.
public struct ProxyHeader: Sendable, Equatable {
    /// 1 (text) or 2 (binary).
    public var version: Int
    public var command: ProxyCommand
    /// The client; nil for v1 UNKNOWN, v2 LOCAL, and v2 families without IP addresses
    /// (AF_UNSPEC, AF_UNIX, datagram).
    public var source: ProxyAddress?
    /// The address the client connected to on the proxy; nil in the same cases as `source`.
    public var destination: ProxyAddress?

    public init(version: Int, command: ProxyCommand, source: ProxyAddress?, destination: ProxyAddress?) {
        self.version = version
        self.command = command
        self.source = source
        self.destination = destination
    }
}

/// Why a PROXY header was refused; the connection must be closed (the spec forbids guessing).
/// `code` is the stable reason code for logs and metrics; equality compares it only.
public struct ProxyProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Neither the v1 "PROXY " prefix nor the v2 signature.
        public static let notProxyProtocol = Code("proxy_not_detected")
        /// v1 line longer than 107 bytes, or v2 header over `ProxyHeaderParser.maxHeaderLength`.
        public static let tooLong = Code("proxy_header_too_long")
        public static let v1Syntax = Code("proxy_v1_syntax")
        public static let v1Protocol = Code("proxy_v1_protocol")
        public static let v1Address = Code("proxy_v1_address")
        public static let v1Port = Code("proxy_v1_port")
        public static let v2Version = Code("proxy_v2_version")
        public static let v2Command = Code("proxy_v2_command")
        public static let v2Family = Code("proxy_v2_family")
        public static let v2Length = Code("proxy_v2_length")
        public static let v2TLV = Code("proxy_v2_tlv")
    }

    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(code: Code, reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: ProxyProtocolError, rhs: ProxyProtocolError) -> Bool { lhs.code == rhs.code }

    public var description: String { "\(code): \(reason) (\(file):\(line))" }
}
