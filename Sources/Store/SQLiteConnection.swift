internal import CSQLite
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import OIDC

/// A value bound to a statement parameter or read from a column.
enum SQLValue {
    case int(Int64)
    case text(String)
    case null

    static func int(_ v: Int) -> SQLValue { .int(Int64(v)) }
    static func optional(_ v: String?) -> SQLValue { v.map(SQLValue.text) ?? .null }
    static func optional(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
}

/// One row of a result, read by column index.
struct SQLRow {
    fileprivate let statement: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}

/// One owner of one `sqlite3*` handle, closed in `deinit`. Not thread-safe by itself: the
/// store serializes every use behind its lock.
final class SQLiteConnection {
    private let db: OpaquePointer
    let path: String
    /// Prepared statements by SQL text, reused: the store runs the same few dozen statements.
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, create: Bool) throws(StoreError) {
        var handle: OpaquePointer?
        // FULLMUTEX (serialized mode) as a second line of defence behind the store's lock.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0)
        let existed = FileManager.default.fileExists(atPath: path)
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close_v2(handle) }
            throw StoreError(code: rc, reason: "\(path): \(message)")
        }
        self.db = handle
        self.path = path
        // The database holds Codici Fiscali: readable by the gateway's user only.
        if !existed { chmod(path, 0o600) }
        sqlite3_extended_result_codes(db, 1)
        try execute("PRAGMA busy_timeout = 5000")
        try execute("PRAGMA journal_mode = WAL")
        // NORMAL: a commit reaches the WAL file without waiting for the disk, and survives the
        // process being killed; the store fsyncs the WAL after each audit record, which makes
        // every earlier commit durable too (see SQLiteStore, WALSync).
        try execute("PRAGMA synchronous = NORMAL")
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    private func failure(_ rc: Int32, _ sql: String) -> StoreError {
        StoreError(code: rc, reason: "\(String(cString: sqlite3_errmsg(db))) (in: \(sql.prefix(60)))")
    }

    /// Statements without parameters or results (DDL, pragmas, transaction control).
    func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(message)
            throw StoreError(code: rc, reason: "\(text) (in: \(sql.prefix(60)))")
        }
    }

    /// Runs `sql` with `parameters`, calling `row` for each result row.
    func query(_ sql: String, _ parameters: [SQLValue] = [], row: (SQLRow) -> Void = { _ in }) throws(StoreError) {
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var fresh: OpaquePointer?
            let prepared = sqlite3_prepare_v2(db, sql, -1, &fresh, nil)
            guard prepared == SQLITE_OK, let fresh else { throw failure(prepared, sql) }
            statements[sql] = fresh
            statement = fresh
        }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .null: rc = sqlite3_bind_null(statement, index)
            case .text(let s):
                // A private copy that SQLite frees itself (also when binding fails), so no
                // SQLITE_TRANSIENT macro is needed.
                let bytes = Array(s.utf8)
                let copy = malloc(max(bytes.count, 1))!
                bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                rc = sqlite3_bind_text(statement, index, copy.assumingMemoryBound(to: CChar.self), Int32(bytes.count), free)
            }
            guard rc == SQLITE_OK else { throw failure(rc, sql) }
        }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw failure(rc, sql) }
            row(SQLRow(statement: statement))
        }
    }

    var changes: Int { Int(sqlite3_changes(db)) }

    /// `body` inside BEGIN IMMEDIATE ... COMMIT, rolled back when it throws.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var userVersion: Int {
        var version = 0
        try? query("PRAGMA user_version") { version = Int($0.int(0)) }
        return version
    }
}
