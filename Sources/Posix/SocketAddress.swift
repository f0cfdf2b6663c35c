#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and port. IPv4-mapped IPv6 addresses (from a dual-stack
/// socket) are normalised to IPv4 so logs, limits and CIDR checks see one form.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case inet, inet6 }
    public var family: Family
    /// 4 or 16 bytes in network order.
    public var bytes: [UInt8]
    public var port: UInt16

    public init(family: Family, bytes: [UInt8], port: UInt16) {
        precondition(bytes.count == (family == .inet ? 4 : 16))
        if family == .inet6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            self.family = .inet
            self.bytes = Array(bytes[12..<16])
        } else {
            self.family = family
            self.bytes = bytes
        }
        self.port = port
    }

    /// Parses `"127.0.0.1:8443"`, `"[::1]:443"`, `"[::]:0"`.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText),
              let ip = SocketAddress.parseIP(String(host)) else { return nil }
        self.init(family: ip.count == 4 ? .inet : .inet6, bytes: ip, port: port)
    }

    /// Parses a textual IPv4 or IPv6 address into its bytes.
    public static func parseIP(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    public var ipString: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let af = family == .inet ? AF_INET : AF_INET6
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(af, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        family == .inet ? "\(ipString):\(port)" : "[\(ipString)]:\(port)"
    }

    /// Builds the address from a kernel `sockaddr_storage`.
    init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let sin = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            }
            var addr = sin.sin_addr
            self.init(family: .inet, bytes: withUnsafeBytes(of: &addr) { Array($0) },
                      port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
            }
            var addr = sin6.sin6_addr
            self.init(family: .inet6, bytes: withUnsafeBytes(of: &addr) { Array($0) },
                      port: UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }

    /// Who a per-client limit counts this address as: an IPv4 address whole, an IPv6 address
    /// by its /64 (the prefix one customer or host is given whole: counted by the full address,
    /// one host would have 2^64 allowances). The family byte first, so the two never collide.
    public var clientKey: [UInt8] { family == .inet ? [4] + bytes : [6] + bytes[0..<8] }

    /// Calls `body` with this address as a kernel `sockaddr`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(Errno) -> R) throws(Errno) -> R {
        var storage = sockaddr_storage()
        let length: socklen_t
        switch family {
        case .inet:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .inet6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin6) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        return try withUnsafePointer(to: &storage) { (pointer) throws(Errno) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(Errno) -> R in
                try body(sa, length)
            }
        }
    }
}

/// An address range in CIDR notation (`"10.0.0.0/8"`, `"::1/128"`; a bare address is a /32 or /128).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]
    public var prefixLength: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let ip = SocketAddress.parseIP(String(parts[0])) else { return nil }
        let maxBits = ip.count * 8
        var prefix = maxBits
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]), p >= 0, p <= maxBits else {
                return nil
            }
            prefix = p
        }
        // Normalise an IPv4-mapped network to IPv4, like SocketAddress does.
        if ip.count == 16, ip[0..<10].allSatisfy({ $0 == 0 }), ip[10] == 0xff, ip[11] == 0xff, prefix >= 96 {
            self.bytes = Array(ip[12..<16])
            self.prefixLength = prefix - 96
        } else {
            self.bytes = ip
            self.prefixLength = prefix
        }
    }

    public func contains(_ address: SocketAddress) -> Bool {
        guard address.bytes.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if (address.bytes[i] & mask) != (bytes[i] & mask) { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String {
        let af = bytes.count == 4 ? SocketAddress.Family.inet : .inet6
        return "\(SocketAddress(family: af, bytes: bytes, port: 0).ipString)/\(prefixLength)"
    }
}
