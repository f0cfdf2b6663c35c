#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the call's name and the errno it left.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    public var call: String

    public init(code: Int32, call: String) {
        self.code = code
        self.call = call
    }

    public var description: String {
        "\(call): \(String(cString: strerror(code)))"
    }

    public static func == (lhs: Errno, rhs: Errno) -> Bool { lhs.code == rhs.code }

    public var isWouldBlock: Bool { code == EAGAIN || code == EWOULDBLOCK }
}

/// Runs a syscall, retrying on EINTR; a negative result becomes a thrown `Errno`.
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ name: String, _ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw Errno(code: code, call: name)
    }
}
