import COpenSSL

/// A failure from OpenSSL or from loading TLS material. `code` is stable and what tests
/// and logs key on; `reason` carries OpenSSL's drained error queue or the file problem.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case file, certificate, privateKey, crl, context, handshake, io, configuration
        /// An outgoing connection (`OutboundConnection`): name lookup, connect, the deadline.
        case resolve, connect, timeout
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

    /// Builds an error from `context` plus everything on this thread's OpenSSL error
    /// queue, which is emptied so the next call starts clean.
    static func drainingQueue(_ code: Code, _ context: String, file: String = #fileID, line: Int = #line) -> TLSError {
        let queue = OpenSSLErrorQueue.drain()
        return TLSError(code, queue.isEmpty ? context : "\(context): \(queue)", file: file, line: line)
    }

    public var description: String { reason }
    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }
}

enum OpenSSLErrorQueue {
    static func drain() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.joined(separator: "; ")
    }

    /// Before an SSL call, so SSL_get_error cannot mistake a stale entry for this call's
    /// failure. ERR_clear_error wipes all 16 slots every time; peeking first costs a
    /// fraction of that on the usual empty queue (twice per request on a kept-alive connection).
    static func clear() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }
}
