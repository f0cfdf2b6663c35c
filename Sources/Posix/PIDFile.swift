#if canImport(Glibc)
import Glibc
#endif

/// The running daemon's process id in a file it holds an flock(2) on while it lives, so a
/// command-line tool (`trust-list import`) can find it and signal it. The lock, not the
/// file's existence, says the process is alive: a file left by a crash is unlocked, and a
/// recycled process id is never signalled.
public final class PIDFile {
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Writes our pid and keeps the file locked until `release` (or exit). Throws EWOULDBLOCK
    /// when another live process holds it.
    public static func acquire(path: String) throws(Errno) -> PIDFile {
        let fd = try syscall("open") { open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode_t(0o644)) }
        do throws(Errno) {
            _ = try syscall("flock") { flock(fd, LOCK_EX | LOCK_NB) }
            _ = try syscall("ftruncate") { ftruncate(fd, 0) }
            let text = Array("\(getpid())\n".utf8)
            let written = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == text.count else { throw Errno(code: errno, call: "pwrite") }
        } catch {
            close(fd)
            throw error
        }
        return PIDFile(path: path, fd: fd)
    }

    /// Removes the file and drops the lock (the file goes first, so no reader finds it
    /// unlocked with our pid in it).
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    deinit { release() }

    /// The pid of the live process holding `path`, or nil when none does.
    public static func runningProcess(path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // A shared lock we can take means nobody holds the exclusive one: a stale file.
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { return nil }
        guard errno == EWOULDBLOCK else { return nil }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).filter { $0.isNumber }
        guard let pid = Int32(text), pid > 1 else { return nil }
        return pid
    }
}
