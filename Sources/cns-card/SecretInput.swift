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

    /// The secret is read straight into the `CardSecret`'s own buffer (see CardSecret.swift):
    /// no array, no string ever holds it.
    func read(_ kind: CardSecret.Kind, prompt: String) throws -> CardSecret {
        do {
            return try CardSecret(kind: kind) { buffer in
                if let fd { return try Self.readLine(from: fd, into: buffer) }
                return try Self.readFromTerminal(prompt: prompt, into: buffer)
            }
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError("the \(kind.rawValue) must be 5 to 8 digits")
        }
    }

    /// One line into `buffer`, byte by byte so nothing past the newline is consumed (the next
    /// secret). Bytes past the buffer's end are read and dropped, and counted, so an over-long
    /// line is refused by its length without being stored anywhere.
    private static func readLine(from fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var count = 0
        var overflow: UInt8 = 0
        defer { overflow = 0 }
        while true {
            let n = count < buffer.count ? Glibc.read(fd, buffer.baseAddress! + count, 1)
                : withUnsafeMutableBytes(of: &overflow) { Glibc.read(fd, $0.baseAddress, 1) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw InputError("cannot read --pin-fd \(fd): \(String(cString: strerror(errno)))") }
            if n == 0 {
                if count == 0 { throw InputError("--pin-fd \(fd) ended before every PIN/PUK was given") }
                break
            }
            let byte = count < buffer.count ? buffer[count] : overflow
            if byte == UInt8(ascii: "\n") {
                if count < buffer.count { buffer[count] = 0 }
                break
            }
            count += 1
            if count > 64 { throw InputError("--pin-fd \(fd): line too long") }
        }
        if count > 0, count <= buffer.count, buffer[count - 1] == UInt8(ascii: "\r") {
            count -= 1
            buffer[count] = 0
        }
        return count
    }

    private static func readFromTerminal(prompt: String, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
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
        return try readLine(from: tty, into: buffer)
    }
}

/// A problem with what the user typed or gave on --pin-fd: a message, no usage text.
struct InputError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
