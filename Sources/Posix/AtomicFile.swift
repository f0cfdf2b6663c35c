#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Replaces a file so that a reader, and a crash at any moment, sees either the old content or
/// the new, never part of the new: the bytes go to a hidden temporary file in the same
/// directory (loaders that list the directory skip dot files), which is fsynced, renamed over
/// the target, and then the directory itself is fsynced so the rename survives a power loss.
///
/// For large downloads the bytes can be written as they arrive (`write` several times, then
/// `commit`); a writer dropped without `commit` removes its temporary file.
public final class AtomicFileWriter {
    public let path: String
    /// Where the bytes are until `commit` (to check them in place before they replace the file).
    public var temporaryPath: String { temporary }
    private let temporary: String
    private var fd: Int32
    public private(set) var count = 0

    /// Process-wide, so two writers for the same path never share a temporary name.
    private static let sequence = Atomic<Int>(0)

    public init(path: String, mode: UInt32 = 0o600) throws(Errno) {
        let (directory, name) = AtomicFileWriter.split(path)
        let serial = AtomicFileWriter.sequence.wrappingAdd(1, ordering: .relaxed).newValue
        let temporary = "\(directory.isEmpty ? "" : directory + "/").\(name).tmp-\(getpid())-\(serial)"
        fd = try syscall("open") { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode)) }
        self.temporary = temporary
        self.path = path
    }

    deinit { abort() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        precondition(fd >= 0, "write after commit or abort")
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        var offset = 0
        while offset < bytes.count {
            let n = try syscall("write") { Glibc.write(fd, base + offset, bytes.count - offset) }
            offset += n
        }
        count += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try write(raw) } }.get()
    }

    /// Makes the new content the file's. After a failure the old file is untouched and the
    /// temporary file is gone.
    public func commit() throws(Errno) {
        precondition(fd >= 0, "commit after commit or abort")
        do throws(Errno) {
            _ = try syscall("fsync") { fsync(fd) }
            let closing = fd
            fd = -1
            _ = try syscall("close") { close(closing) }
            _ = try syscall("rename") { rename(temporary, path) }
        } catch {
            abort()
            throw error
        }
        AtomicFileWriter.syncDirectory(of: path)
    }

    /// Drops the temporary file; the target is untouched.
    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temporary)
    }

    /// Makes a rename or an unlink in the directory of `path` durable. Best effort: a file
    /// system that cannot fsync a directory has nothing more to offer.
    public static func syncDirectory(of path: String) {
        let (directory, _) = split(path)
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        _ = fsync(dfd)
        close(dfd)
    }

    /// `("/a/b", "c")` for `/a/b/c`, `("/", "c")` for `/c`, `("", "c")` for a bare name.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let name = String(path[path.index(after: slash)...])
        return (slash == path.startIndex ? "/" : String(path[..<slash]), name)
    }
}

public enum AtomicFile {
    /// Replaces `path` with `bytes` (see `AtomicFileWriter`); the file is created with `mode`.
    public static func write(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o600) throws(Errno) {
        let writer = try AtomicFileWriter(path: path, mode: mode)
        try writer.write(bytes)
        try writer.commit()
    }
}
