internal import CPostgres
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
public import OIDC

extension StoreError {
    /// The database could not be reached (connect failed, connection lost, pool exhausted):
    /// the caller answers "temporarily unavailable" and the health flag goes down.
    public static let unavailableCode: Int32 = -2
    /// The server answered with an error (SQLSTATE in the reason).
    public static let serverErrorCode: Int32 = -3

    public var isUnavailable: Bool { code == Self.unavailableCode }
}

/// The rows of one result, copied out of the `PGresult` (all text format).
struct PostgresRows {
    var rows: [[String?]]
    /// Rows affected by INSERT / UPDATE / DELETE.
    var affected: Int

    var first: [String?]? { rows.first }
}

/// One owner of one `PGconn*`, finished in `deinit`.
final class PostgresConnection: @unchecked Sendable {
    // @unchecked: the pool lends a connection to exactly one thread at a time and takes it
    // back before lending it again; libpq connections are safe to move between threads.
    private let conn: OpaquePointer

    init(keywords: [(String, String)]) throws(StoreError) {
        // Keyword and value arrays as NUL-terminated C strings, freed after the call.
        let keys = keywords.map { strdup($0.0) } + [nil]
        let values = keywords.map { strdup($0.1) } + [nil]
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        if let failure = CNSPQ_load() {
            throw StoreError(code: StoreError.unavailableCode, reason: String(cString: failure))
        }
        let handle = keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                CNSPQ_connectdbParams(k.baseAddress, v.baseAddress, 0)
            }
        }
        guard let handle else { throw StoreError(code: StoreError.unavailableCode, reason: "libpq: out of memory") }
        guard CNSPQ_status(handle) == CONNECTION_OK else {
            let message = Self.trim(String(cString: CNSPQ_errorMessage(handle)))
            CNSPQ_finish(handle)
            throw StoreError(code: StoreError.unavailableCode, reason: "connect: \(message)")
        }
        conn = handle
    }

    deinit { CNSPQ_finish(conn) }

    /// True once libpq has seen the connection die; such a connection is never reused.
    var isBroken: Bool { CNSPQ_status(conn) != CONNECTION_OK }

    private static func trim(_ text: String) -> String {
        text.trimmingScalars(where: \.isWhitespaceOrNewline).replacing("\n", with: " ")
    }

    /// Statements without parameters (DDL, transaction control); several may be separated by `;`.
    func execute(_ sql: String) throws(StoreError) {
        let result = CNSPQ_exec(conn, sql)
        defer { CNSPQ_clear(result) }
        try check(result, sql)
    }

    /// One statement with `$1...` parameters, sent separately from the text (no quoting, no injection).
    ///
    /// libpq reads each parameter as a C string, so a NUL would silently cut it short (two
    /// different values becoming one key); PostgreSQL `text` cannot hold a NUL anyway. Such a
    /// parameter is refused here, loudly, instead.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws(StoreError) -> PostgresRows {
        for case .text(let text) in parameters where text.utf8.contains(0) {
            throw StoreError(code: StoreError.serverErrorCode, reason: "a text parameter contains NUL (in: \(sql.prefix(60)))")
        }
        let texts: [UnsafeMutablePointer<CChar>?] = parameters.map { value in
            switch value {
            case .int(let v): strdup(String(v))
            case .text(let s): strdup(s)
            case .null: nil
            }
        }
        defer { texts.forEach { free($0) } }
        let result = texts.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
            CNSPQ_execParams(conn, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
        }
        defer { CNSPQ_clear(result) }
        try check(result, sql)
        var rows: [[String?]] = []
        let count = CNSPQ_ntuples(result)
        let columns = CNSPQ_nfields(result)
        rows.reserveCapacity(Int(count))
        for r in 0..<count {
            var row: [String?] = []
            for c in 0..<columns {
                row.append(CNSPQ_getisnull(result, r, c) == 1 ? nil : String(cString: CNSPQ_getvalue(result, r, c)))
            }
            rows.append(row)
        }
        let affected = Int(String(cString: CNSPQ_cmdTuples(result))) ?? 0
        return PostgresRows(rows: rows, affected: affected)
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws(StoreError) {
        let status = result.map(CNSPQ_resultStatus) ?? PGRES_FATAL_ERROR
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK { return }
        let message = Self.trim(String(cString: CNSPQ_errorMessage(conn)))
        // A lost connection (server stopped, network cut) is "unavailable"; a SQL error is a bug or a constraint.
        if isBroken || result == nil {
            throw StoreError(code: StoreError.unavailableCode, reason: "\(message) (in: \(sql.prefix(60)))")
        }
        let state = result.map(Self.sqlstate) ?? "?????"
        // 57014 query_canceled (statement_timeout), 55P03 lock_not_available, 57P0x shutdown: all transient.
        let transient = state == "57014" || state == "55P03" || state.hasPrefix("57P") || state.hasPrefix("08")
        throw StoreError(code: transient ? StoreError.unavailableCode : StoreError.serverErrorCode,
                         reason: "\(state) \(message) (in: \(sql.prefix(60)))")
    }

    /// The five-character SQLSTATE of a failed result. (`PQresultErrorField` needs the
    /// `PG_DIAG_SQLSTATE` character macro, which Swift does not import; the SQLSTATE-only
    /// verbosity gives "ERROR:  57014" without one.)
    private static func sqlstate(_ result: OpaquePointer) -> String {
        guard let text = CNSPQ_resultVerboseErrorMessage(result, PQERRORS_SQLSTATE, PQSHOW_CONTEXT_NEVER) else { return "?????" }
        defer { CNSPQ_freemem(text) }
        let words = String(cString: text).split(whereSeparator: { $0 == " " || $0 == "\n" })
        return words.last.map(String.init) ?? "?????"
    }

    /// `body` inside BEGIN ... COMMIT, rolled back when it throws.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if !isBroken { try? execute("ROLLBACK") }
            throw error
        }
    }
}
