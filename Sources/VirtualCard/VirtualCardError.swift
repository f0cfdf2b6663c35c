internal import COpenSSL

/// A failure setting up or running the virtual card. `code` is stable; `reason` has the
/// detail (a file name, OpenSSL's drained error queue, the errno text).
public struct VirtualCardError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case file, certificate, privateKey, keyMismatch, configuration, network, signature
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

    /// `context` plus whatever OpenSSL queued on this thread, emptying the queue.
    static func openSSL(_ code: Code, _ context: String, file: String = #fileID, line: Int = #line) -> VirtualCardError {
        var messages: [String] = []
        while case let error = ERR_get_error(), error != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(error, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let detail = messages.joined(separator: "; ")
        return VirtualCardError(code, detail.isEmpty ? context : "\(context): \(detail)", file: file, line: line)
    }

    public var description: String { reason }
    public static func == (lhs: VirtualCardError, rhs: VirtualCardError) -> Bool { lhs.code == rhs.code }
}
