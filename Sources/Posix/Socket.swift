#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Synchronization

/// Socket calls used by the server. File descriptors are plain `Int32`s owned by the
/// caller (the connection or listener object that holds one closes it exactly once).
public enum Socket {
    /// A non-blocking listening TCP socket bound to `address`.
    public static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws(Errno) -> Int32 {
        let domain = address.family == .inet ? AF_INET : AF_INET6
        let fd = try syscall("socket") { socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            try address.withSockAddr { (sa, len) throws(Errno) in
                _ = try syscall("bind") { bind(fd, sa, len) }
            }
            _ = try syscall("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var v = value
        _ = try syscall("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// The address a socket is bound to (for port 0 listeners).
    public static func localAddress(_ fd: Int32) throws(Errno) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (p) throws(Errno) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(Errno) in
                try syscall("getsockname") { getsockname(fd, sa, &len) }
            }
        }
        guard let address = SocketAddress(storage: storage) else {
            throw Errno(code: EAFNOSUPPORT, call: "getsockname")
        }
        return address
    }

    /// Accepts one pending connection; nil when none is pending (EAGAIN) or the peer
    /// vanished before we accepted it (ECONNABORTED).
    public static func accept(_ fd: Int32) throws(Errno) -> (fd: Int32, peer: SocketAddress)? {
        var storage = sockaddr_storage()
        var len = socklen_t(0)
        do {
            let client = try syscall("accept4") { cns_accept4(fd, &storage, &len) }
            guard let peer = SocketAddress(storage: storage) else {
                close(client)
                return nil
            }
            try? setOption(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return (client, peer)
        } catch {
            if error.isWouldBlock || error.code == ECONNABORTED || error.code == EPROTO { return nil }
            throw error
        }
    }

    /// Reads without consuming (`MSG_PEEK`); returns 0 at end of stream, nil when nothing is buffered.
    public static func peek(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        do {
            return try syscall("recv") { recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK)) }
        } catch {
            if error.isWouldBlock { return nil }
            throw error
        }
    }

    /// Reads and discards exactly `count` bytes known to be buffered (after a peek).
    public static func discard(_ fd: Int32, count: Int) throws(Errno) {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { scratch.deallocate() }
        var done = 0
        while done < count {
            let n = try syscall("recv") { recv(fd, scratch.baseAddress! + done, count - done, 0) }
            if n == 0 { throw Errno(code: ECONNRESET, call: "recv") }
            done += n
        }
    }

    public static func close(_ fd: Int32) {
        // close() is not retried on EINTR on Linux: the descriptor is released either way.
        _ = Glibc.close(fd)
    }
}

private let heapTrimRequested = Atomic<Bool>(false)

public enum Process {
    /// Raises the soft open-file limit to the hard limit; returns the new limit.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int { Int(cns_raise_nofile_limit()) }

    /// The number of CPUs this process may run on.
    public static var availableCPUs: Int { Int(cns_set_cpu_affinity_count()) }

    /// Returns freed heap pages to the kernel (after a burst of connections closes).
    public static func trimHeap() { cns_malloc_trim() }

    /// Asks the control thread to return freed heap pages at its next tick: for frees that
    /// happen on any thread (an old trust generation with a large CRL released by the last
    /// connection that held it), where trimming on the spot could stall a loop thread.
    public static func requestHeapTrim() { heapTrimRequested.store(true, ordering: .relaxed) }

    /// On the control thread: trims if a trim was asked for since the last call.
    public static func trimHeapIfRequested() {
        if heapTrimRequested.exchange(false, ordering: .relaxed) { cns_malloc_trim() }
    }

    public static func ignoreSIGPIPE() { cns_ignore_sigpipe() }

    /// Blocks the signals in this thread and every thread it starts afterwards.
    public static func blockSignals(_ signals: [Int32]) {
        _ = signals.withUnsafeBufferPointer { cns_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// Waits up to `timeoutMilliseconds` for one of the (blocked) signals.
    public static func waitForSignal(_ signals: [Int32], timeoutMilliseconds: Int32) -> Int32? {
        let n = signals.withUnsafeBufferPointer { cns_wait_signal($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        return n > 0 ? n : nil
    }

    /// Writes `text` to standard error, unbuffered and whole; for failures before logging is
    /// set up. A closed or broken stderr loses the text.
    public static func writeStandardError(_ text: String) { writeAll(text, to: 2) }

    /// Writes `text` to `fd` whole: EINTR and short writes are retried, any other failure
    /// (a closed or broken descriptor) drops the rest.
    public static func writeAll(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension Socket {
    /// Reads what is available: the byte count, 0 at end of stream, nil when nothing is buffered.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        do {
            return try syscall("recv") { recv(fd, buffer.baseAddress, buffer.count, 0) }
        } catch {
            if error.isWouldBlock { return nil }
            throw error
        }
    }

    /// Writes what the socket takes now: the byte count, nil when its buffer is full.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int? {
        do {
            return try syscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        } catch {
            if error.isWouldBlock { return nil }
            throw error
        }
    }
}
