#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Posix

/// What a registration waits for.
public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = Interest(rawValue: 1)
    public static let writable = Interest(rawValue: 2)
    public static let none: Interest = []
}

/// One readiness report. `token` is what the registration carried: a connection's slot
/// and generation, never a bare file descriptor, so a late event for a closed and reused
/// descriptor cannot reach the wrong connection.
public struct ReadyEvent: Sendable {
    public var token: UInt64
    public var readable: Bool
    public var writable: Bool
    public var hangup: Bool
}

/// Wakes a reactor from another thread (eventfd). Safe to share.
public struct Waker: Sendable {
    let fd: Int32
    public func wake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }
}

/// A level-triggered epoll instance owned by one loop thread.
final class Reactor {
    private let epfd: Int32
    private let wakeFD: Int32
    static let wakeToken: UInt64 = .max
    private var ready: [cns_epoll_ready]

    init(capacity: Int = 256) throws(Errno) {
        epfd = try syscall("epoll_create1") { cns_epoll_create() }
        do {
            wakeFD = try syscall("eventfd") { cns_eventfd() }
        } catch {
            Socket.close(epfd)
            throw error
        }
        ready = Array(repeating: cns_epoll_ready(), count: capacity)
        try register(fd: wakeFD, token: Reactor.wakeToken, interest: .readable)
    }

    deinit {
        Socket.close(wakeFD)
        Socket.close(epfd)
    }

    var waker: Waker { Waker(fd: wakeFD) }

    private func mask(_ interest: Interest, exclusive: Bool) -> UInt32 {
        // No interest at all (a request waiting for its response) also mutes RDHUP, so
        // a peer that half-closes cannot make a level-triggered loop spin.
        var events: UInt32 = 0
        if interest.contains(.readable) { events |= CNS_EPOLLIN | CNS_EPOLLRDHUP }
        if interest.contains(.writable) { events |= CNS_EPOLLOUT }
        if exclusive { events = (events & ~CNS_EPOLLRDHUP) | CNS_EPOLLEXCLUSIVE }
        return events
    }

    /// `exclusive` is for a listening socket shared by several loops: the kernel wakes
    /// one of them per connection instead of all (EPOLLEXCLUSIVE).
    func register(fd: Int32, token: UInt64, interest: Interest, exclusive: Bool = false) throws(Errno) {
        _ = try syscall("epoll_ctl") { cns_epoll_ctl(epfd, CNS_EPOLL_CTL_ADD, fd, mask(interest, exclusive: exclusive), token) }
    }

    func modify(fd: Int32, token: UInt64, interest: Interest) throws(Errno) {
        _ = try syscall("epoll_ctl") { cns_epoll_ctl(epfd, CNS_EPOLL_CTL_MOD, fd, mask(interest, exclusive: false), token) }
    }

    func deregister(fd: Int32) {
        _ = cns_epoll_ctl(epfd, CNS_EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and calls `body` for each event.
    /// Wake-ups are drained here and reported with `Reactor.wakeToken`.
    func poll(timeoutMilliseconds: Int32, _ body: (ReadyEvent) -> Void) throws(Errno) {
        let capacity = Int32(ready.count)
        let n: Int32
        do {
            n = try ready.withUnsafeMutableBufferPointer { (buffer) throws(Errno) -> Int32 in
                let base = buffer.baseAddress
                return try syscall("epoll_wait") { cns_epoll_wait(epfd, base, capacity, timeoutMilliseconds) }
            }
        }
        for i in 0..<Int(n) {
            let e = ready[i]
            if e.token == Reactor.wakeToken {
                var value: UInt64 = 0
                _ = withUnsafeMutableBytes(of: &value) { read(wakeFD, $0.baseAddress, 8) }
            }
            body(ReadyEvent(
                token: e.token,
                readable: e.events & (CNS_EPOLLIN | CNS_EPOLLRDHUP) != 0,
                writable: e.events & CNS_EPOLLOUT != 0,
                hangup: e.events & (CNS_EPOLLHUP | CNS_EPOLLERR) != 0))
        }
    }
}
