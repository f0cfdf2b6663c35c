import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Posix
import Synchronization
public import TLS

/// A one-connection server on 127.0.0.1:0 that answers with `response` once it has read a
/// request head, optionally over TLS, and records the request. With no response it never
/// accepts: the kernel completes the TCP handshake alone and the client waits.
public final class OneShotServer: Sendable {
    public let port: UInt16
    private let fd: Int32
    private let received = Mutex<[UInt8]>([])

    public init(response: [UInt8]?, tls: TLSContext? = nil) throws {
        fd = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        port = try Socket.localAddress(fd).port
        guard let response else { return }
        let thread = Thread { [self] in serve(response, tls: tls) }
        thread.start()
    }

    private func serve(_ response: [UInt8], tls: TLSContext?) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 5_000) == 1, let (client, _) = try? Socket.accept(fd) else { return }
        defer { Socket.close(client) }
        let connection = tls.flatMap { try? TLSConnection(context: $0, fd: client) }
        func wait(_ events: Int32) -> Bool {
            var wait = pollfd(fd: client, events: Int16(events), revents: 0)
            return poll(&wait, 1, 5_000) == 1
        }
        if let connection {
            while true {
                switch connection.handshake() {
                case .done: break
                case .wantRead: guard wait(POLLIN) else { return }; continue
                case .wantWrite: guard wait(POLLOUT) else { return }; continue
                default: return
                }
                break
            }
        }
        var request: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        while request.firstRange(of: [13, 10, 13, 10] as [UInt8]) == nil {
            if let connection {
                switch connection.read(into: buffer) {
                case .done(let n): request += buffer.prefix(n)
                case .wantRead: guard wait(POLLIN) else { return }
                case .wantWrite: guard wait(POLLOUT) else { return }
                default: return
                }
            } else {
                guard wait(POLLIN) else { return }
                let count = recv(client, buffer.baseAddress, buffer.count, 0)
                guard count > 0 else { return }
                request += buffer.prefix(count)
            }
        }
        received.withLock { $0 = request }
        var offset = 0
        while offset < response.count {
            let sent: Int = response[offset...].withUnsafeBytes { bytes in
                if let connection {
                    if case .done(let n) = connection.write(bytes) { return n }
                    return 0
                }
                return Glibc.send(client, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 { offset += sent } else if !wait(POLLOUT) { return }
        }
        connection?.shutdown()
    }

    public var request: String { String(decoding: received.withLock { $0 }, as: UTF8.self) }

    deinit { Socket.close(fd) }
}

public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
