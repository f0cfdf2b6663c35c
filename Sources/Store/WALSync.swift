#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import OIDC

/// Group commit for the SQLite store: one fdatasync of the WAL file makes every commit
/// written before it durable, so threads that need durability at the same moment share one.
///
/// Each durable commit takes a ticket after its bytes are in the WAL file (under the store's
/// lock). `sync(through:)` returns at once when an fsync that started after that ticket has
/// finished; otherwise it runs one, covering every ticket taken so far. SQLite's own FULL
/// mode does the same fdatasync of the same file, one per commit.
final class WALSync: Sendable {
    private struct State {
        var fd: Int32 = -1
        var inode: UInt = 0
        var syncedThrough: UInt64 = 0
    }

    private let databasePath: String
    private let tickets = Atomic<UInt64>(0)
    private let state = Mutex(State())

    init(databasePath: String) { self.databasePath = databasePath }

    deinit { state.withLock { if $0.fd >= 0 { close($0.fd) } } }

    /// Call right after a commit, while still holding the store's lock.
    func ticket() -> UInt64 { tickets.add(1, ordering: .sequentiallyConsistent).newValue }

    func sync(through ticket: UInt64) throws(StoreError) {
        try state.withLock { (s: inout State) throws(StoreError) in
            if s.syncedThrough >= ticket { return }
            let target = tickets.load(ordering: .sequentiallyConsistent)
            try open(&s)
            guard fdatasync(s.fd) == 0 else {
                let code = errno
                throw StoreError(code: code, reason: "fdatasync \(databasePath)-wal: \(String(cString: strerror(code)))")
            }
            s.syncedThrough = target
        }
    }

    /// The WAL file, reopened when it is not the file at its path any more (SQLite keeps it
    /// while a connection is open; this is a safety net). Without one, the database file.
    private func open(_ s: inout State) throws(StoreError) {
        var current = stat()
        let walPath = databasePath + "-wal"
        let path = stat(walPath, &current) == 0 ? walPath : databasePath
        if path == walPath, s.fd >= 0, UInt(current.st_ino) == s.inode { return }
        if s.fd >= 0 { close(s.fd) }
        s.fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard s.fd >= 0 else {
            let code = errno
            throw StoreError(code: code, reason: "open \(path): \(String(cString: strerror(code)))")
        }
        var opened = stat()
        s.inode = fstat(s.fd, &opened) == 0 && path == walPath ? UInt(opened.st_ino) : 0
        // A new WAL file's directory entry must be durable too (SQLite's FULL does the same).
        let directory = databasePath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let dirFD = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }
}
