#if canImport(Glibc)
import Glibc
#endif

/// A failed outgoing network step. `code` is what callers and tests match; `reason` is the
/// line a log shows (host, port and the system's words, never a URL's path or query).
public struct NetworkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The name did not resolve.
        case resolve
        /// No address accepted the connection.
        case connect
        /// The deadline passed.
        case timeout
        /// A read or write failed on an established connection.
        case io
    }
    public var code: Code
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { reason }
    public static func == (lhs: NetworkError, rhs: NetworkError) -> Bool { lhs.code == rhs.code }
}

extension Socket {
    public enum Readiness: Sendable { case readable, writable }

    /// "host:port", IPv6 literals in brackets: how messages name a peer.
    public static func peerName(host: String, port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The one outgoing connect: resolves `host` (a name or an IP literal, IPv6 without
    /// brackets), then tries every address in the resolver's order (RFC 6724) with a
    /// non-blocking connect, each bounded by what is left of `deadline`. Returns a connected,
    /// non-blocking, close-on-exec socket; the last address's failure is the one reported.
    ///
    /// Name resolution (getaddrinfo) is the one step the deadline cannot bound: glibc offers
    /// no timeout for it. Callers that must never block run this off their loop threads.
    public static func connect(host: String, port: UInt16, deadline: Deadline) throws(NetworkError) -> Int32 {
        let peer = peerName(host: host, port: port)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        var rc: Int32
        repeat { rc = getaddrinfo(host, String(port), &hints, &list) } while rc == EAI_SYSTEM && errno == EINTR
        guard rc == 0, let list else {
            throw NetworkError(.resolve, "resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var failure = NetworkError(.connect, "connect to \(peer): no address")
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let entry = next?.pointee {
            next = entry.ai_next
            do {
                return try connect(entry, peer: peer, deadline: deadline)
            } catch where error.code == .connect {
                failure = error
            }
        }
        throw failure
    }

    private static func connect(_ entry: addrinfo, peer: String, deadline: Deadline) throws(NetworkError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd: Int32
        do {
            fd = try syscall("socket") { socket(entry.ai_family, type, entry.ai_protocol) }
        } catch {
            throw NetworkError(.connect, "connect to \(peer): \(error)")
        }
        do throws(NetworkError) {
            if Glibc.connect(fd, entry.ai_addr, entry.ai_addrlen) != 0 {
                // A non-blocking connect interrupted by a signal goes on in the background,
                // like EINPROGRESS; calling connect again would only answer EALREADY.
                let code = errno
                guard code == EINPROGRESS || code == EINTR else {
                    throw NetworkError(.connect, "connect to \(peer): \(String(cString: strerror(code)))")
                }
                try wait(fd, for: .writable, until: deadline, during: "connect to \(peer)")
                var pending: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) != 0 { pending = errno }
                if pending != 0 {
                    throw NetworkError(.connect, "connect to \(peer): \(String(cString: strerror(pending)))")
                }
            }
            try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// poll(2) for `readiness` with what is left of `deadline`. Error and hang-up conditions
    /// return too: the next call on the socket reports them.
    public static func wait(_ fd: Int32, for readiness: Readiness, until deadline: Deadline, during step: String) throws(NetworkError) {
        let events = Int16(readiness == .readable ? POLLIN : POLLOUT)
        while true {
            let milliseconds = deadline.remainingMilliseconds
            guard milliseconds > 0 else { throw NetworkError(.timeout, "\(step): timed out") }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw NetworkError(.io, "\(step): poll: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Puts a socket into blocking or non-blocking mode.
    public static func setBlocking(_ fd: Int32, _ blocking: Bool) throws(Errno) {
        let flags = try syscall("fcntl") { fcntl(fd, F_GETFL) }
        let wanted = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
        if wanted != flags { _ = try syscall("fcntl") { fcntl(fd, F_SETFL, wanted) } }
    }

    /// True for an IPv4 or IPv6 literal (no brackets).
    public static func isIPAddress(_ host: String) -> Bool { SocketAddress.parseIP(host) != nil }
}
