#if canImport(Glibc)
import Glibc
#endif
import CLinux
import FoundationEssentials

/// The sd_notify protocol and socket activation, spoken directly (no libsystemd):
/// datagrams to `$NOTIFY_SOCKET`, descriptors from `$LISTEN_FDS`.
public struct SystemdNotifier: Sendable {
    private let socketPath: String?
    /// Half the watchdog interval systemd asked for, if it asked.
    public let watchdogInterval: Double?

    public init(environment: [String: String]? = nil) {
        let environment = environment ?? ProcessInfo.processInfo.environment
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = Double(usec) / 2_000_000
        } else {
            watchdogInterval = nil
        }
    }

    public var isEnabled: Bool { socketPath != nil }

    /// Sends `KEY=value` lines; silently does nothing outside systemd.
    public func notify(_ lines: [String]) {
        guard let socketPath else { return }
        _ = cns_notify_send(socketPath, lines.joined(separator: "\n"))
    }

    public func ready(status: String) { notify(["READY=1", "STATUS=\(status)"]) }
    public func reloading() {
        notify(["RELOADING=1", "MONOTONIC_USEC=\(Process.monotonicNanoseconds() / 1000)", "STATUS=reloading"])
    }
    public func stopping() { notify(["STOPPING=1", "STATUS=draining connections"]) }
    public func status(_ text: String) { notify(["STATUS=\(text)"]) }
    public func watchdog() { notify(["WATCHDOG=1"]) }
}

/// Listening sockets passed by systemd socket activation (`LISTEN_FDS`, fds from 3).
public enum SocketActivation {
    public static func inheritedListeners(environment: [String: String]? = nil) -> [(fd: Int32, address: SocketAddress)] {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int32.init), count > 0 else { return [] }
        var result: [(Int32, SocketAddress)] = []
        for fd in 3..<(3 + count) where cns_is_listening_socket(fd) == 1 {
            _ = cns_set_nonblocking(fd)
            if let address = try? Socket.localAddress(fd) { result.append((fd, address)) }
        }
        return result
    }
}
