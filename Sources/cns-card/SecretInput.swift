import ArgumentParser
import Glibc
import SmartCard

/// Reads PINs and PUKs: without echo from the controlling terminal, or one per line from a
/// file descriptor (`--pin-fd`). Never from the command line, never printed.
final class SecretInput {
    private let fd: Int32?

    init(options: SecretOptions) {
        fd = options.pinFD
    }

    func read(_ kind: CardSecret.Kind, prompt: String) throws -> CardSecret {
        var bytes = try fd.map { try Self.readLine(from: $0) } ?? Self.readFromTerminal(prompt: prompt)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        do {
            return try CardSecret(utf8: bytes, kind: kind)
        } catch {
            throw InputError("the \(kind.rawValue) must be 5 to 8 digits")
        }
    }

    /// One line, byte by byte so nothing past the newline is consumed (the next secret).
    private static func readLine(from fd: Int32) throws -> [UInt8] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw InputError("cannot read --pin-fd \(fd): \(String(cString: strerror(errno)))") }
            if n == 0 {
                if line.isEmpty { throw InputError("--pin-fd \(fd) ended before every PIN/PUK was given") }
                break
            }
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
            if line.count > 64 { throw InputError("--pin-fd \(fd): line too long") }
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }

    private static func readFromTerminal(prompt: String) throws -> [UInt8] {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else {
            throw InputError("no terminal to ask for the PIN on: give it with --pin-fd N")
        }
        defer { close(tty) }
        let promptBytes = Array(prompt.utf8)
        _ = promptBytes.withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
        var saved = termios()
        let haveTermios = tcgetattr(tty, &saved) == 0
        if haveTermios {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            quiet.c_lflag |= tcflag_t(ICANON)
            tcsetattr(tty, TCSAFLUSH, &quiet)
        }
        defer {
            if haveTermios { tcsetattr(tty, TCSAFLUSH, &saved) }
            _ = write(tty, "\n", 1)
        }
        return try readLine(from: tty)
    }
}

/// A problem with what the user typed or gave on --pin-fd: a message, no usage text.
struct InputError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
