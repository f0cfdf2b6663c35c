import FoundationEssentials
import Posix

/// Where the state lives, from `[store] url`: the embedded SQLite file or a shared
/// PostgreSQL database. Parsing is pure (no I/O) so every rule is unit-tested.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresTarget)

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// libpq `sslmode` values (libpq section 34.19).
    static let sslModes: Set<String> = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
    /// Query parameters an operator may set; everything else is refused so a typo is not ignored.
    static let queryKeys: Set<String> = ["sslmode", "sslrootcert", "connect_timeout", "application_name"]

    public static func parse(_ text: String) throws(ParseError) -> StoreLocation {
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard path.hasPrefix("/"), !path.hasSuffix("/") else {
                throw ParseError(reason: "expected \"sqlite:///absolute/path\"")
            }
            return .sqlite(path: path)
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            throw ParseError(reason: "expected \"sqlite:///absolute/path\" or \"postgres://user@host:port/database?sslmode=...\"")
        }
        guard let url = URLComponents(string: text) else { throw ParseError(reason: "not a URL") }
        // A password in the URL ends up in process listings, backups of the config and logs.
        guard url.percentEncodedPassword == nil else {
            throw ParseError(reason: "must not contain a password: put it in the file named by [store] password_file")
        }
        guard let user = url.user, !user.isEmpty else { throw ParseError(reason: "needs a user: postgres://user@host/database") }
        guard let host = url.host, !host.isEmpty else { throw ParseError(reason: "needs a host") }
        var database = url.path
        if database.hasPrefix("/") { database.removeFirst() }
        guard !database.isEmpty, !database.utf8.contains(UInt8(ascii: "/")) else { throw ParseError(reason: "needs a database name: postgres://user@host/database") }
        var parameters: [String: String] = [:]
        for item in url.queryItems ?? [] {
            guard queryKeys.contains(item.name) else {
                throw ParseError(reason: "unknown parameter \"\(item.name)\" (allowed: \(queryKeys.sorted().joined(separator: ", ")))")
            }
            guard parameters[item.name] == nil else { throw ParseError(reason: "parameter \"\(item.name)\" repeated") }
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard sslModes.contains(value) else {
                    throw ParseError(reason: "sslmode must be one of \(sslModes.sorted().joined(separator: ", "))")
                }
            case "connect_timeout":
                guard let seconds = Int(value), (1...60).contains(seconds) else {
                    throw ParseError(reason: "connect_timeout must be 1...60 seconds")
                }
            case "sslrootcert":
                guard value.hasPrefix("/") else { throw ParseError(reason: "sslrootcert must be an absolute path") }
            default:
                break
            }
            parameters[item.name] = value
        }
        return .postgres(PostgresTarget(user: user, host: host, port: url.port ?? 5432, database: database, parameters: parameters))
    }
}

/// A PostgreSQL server and database, without the password (read from a file at each connect).
public struct PostgresTarget: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var parameters: [String: String]
    /// Read at every new connection, so the password can change without a restart.
    public var passwordFile: String?
    /// At most this many connections per process (sized to the blocking pool).
    public var poolSize: Int

    public init(user: String, host: String, port: Int, database: String, parameters: [String: String] = [:],
                passwordFile: String? = nil, poolSize: Int = 16) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.parameters = parameters
        self.passwordFile = passwordFile
        self.poolSize = poolSize
    }

    /// For logs: never the password.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// Why this connection can be read or changed on its way, or nil: the whole login rests on
    /// the database (a code row written there is a login, a session row a signed-in citizen),
    /// so anyone between the gateway and the server must not be able to pose as the server.
    /// Only `sslmode=verify-full` checks the server's certificate and name; a host on this
    /// machine (loopback, or a Unix socket directory) has no one in between.
    public var transportWarning: String? {
        if parameters["sslmode"] == "verify-full" || isLocalHost { return nil }
        let mode = parameters["sslmode"].map { "sslmode=\($0)" } ?? "no sslmode (libpq then tries TLS without checking the server)"
        return "\(description) has \(mode): whoever is on the network path to \(host) can read the connection or pose as the database, "
            + "and whoever can write the database can mint logins; add sslmode=verify-full and sslrootcert=/path/to/ca.pem"
    }

    /// A Unix socket directory, `localhost`, or an IP literal in 127.0.0.0/8 or ::1.
    var isLocalHost: Bool {
        if host.hasPrefix("/") || host.lowercased() == "localhost" { return true }
        var literal = Substring(host)
        if literal.hasPrefix("[") && literal.hasSuffix("]") { literal = literal.dropFirst().dropLast() }
        guard let bytes = SocketAddress.parseIP(String(literal)) else { return false }
        return bytes.count == 4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Seconds libpq waits for a connection (its minimum effective value is 2).
    public var connectTimeout: Int { parameters["connect_timeout"].flatMap(Int.init) ?? 3 }

    /// libpq keyword/value pairs, password excluded.
    func keywords(password: String?) -> [(String, String)] {
        var pairs: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("connect_timeout", String(connectTimeout)),
            ("application_name", parameters["application_name"] ?? "cns-gateway"),
            // A dead server or a cut cable is noticed within seconds, not after the kernel's
            // two-hour keepalive default.
            ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3"),
            ("tcp_user_timeout", "5000"),
            // No statement may hold a blocking-pool thread for long.
            ("options", "-c statement_timeout=5000 -c lock_timeout=3000 -c idle_in_transaction_session_timeout=10000"),
        ]
        if let mode = parameters["sslmode"] { pairs.append(("sslmode", mode)) }
        if let root = parameters["sslrootcert"] { pairs.append(("sslrootcert", root)) }
        if let password { pairs.append(("password", password)) }
        return pairs
    }
}
