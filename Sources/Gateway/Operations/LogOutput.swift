#if canImport(Glibc)
import JSON
import Glibc
#endif
import FoundationEssentials
public import Logging
import Posix
import Synchronization

/// Log lines on stdout: one JSON object per line for the journal, or readable text on a
/// terminal. The logger's message is the event name; metadata are the fields. Callers
/// never pass a PIN, secret, token or a full certificate.
public struct GatewayLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let json: Bool

    public init(level: Logger.Level, json: Bool) {
        self.logLevel = level
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let time = LogClock.timestamp()
        let line: String
        if json {
            var out = "{\"time\":\"\(time)\",\"level\":\"\(event.level)\",\"event\":\(LogJSON.quote(event.message.description))"
            for key in fields.keys.sorted() {
                out += ",\(LogJSON.quote(key)):\(LogJSON.render(fields[key]!))"
            }
            line = out + "}\n"
        } else {
            var out = "\(time) \(event.level) \(event.message)"
            for key in fields.keys.sorted() { out += " \(key)=\(fields[key]!)" }
            line = out + "\n"
        }
        LogOutput.write(line)
    }

    /// Installs the process-wide logging backend once.
    public static func bootstrap(level: String, format: LogFormat) {
        let json: Bool
        switch format {
        case .json: json = true
        case .text: json = false
        case .auto: json = isatty(1) == 0
        }
        let logLevel = Logger.Level(rawValue: level) ?? .info
        LogOutput.configure(level: logLevel, json: json)
        LoggingSystem.bootstrap { _ in
            let settings = LogOutput.settings
            return GatewayLogHandler(level: settings.level, json: settings.json)
        }
    }
}

enum LogOutput {
    private static let lock = Mutex(Settings(level: .info, json: true))
    struct Settings: Sendable { var level: Logger.Level; var json: Bool }

    static var settings: Settings { lock.withLock { $0 } }
    static func configure(level: Logger.Level, json: Bool) { lock.withLock { $0 = Settings(level: level, json: json) } }

    /// One line to stdout, whole; the lock keeps lines from several threads apart.
    static func write(_ line: String) {
        lock.withLock { _ in Posix.Process.writeAll(line, to: 1) }
    }
}

enum LogClock {
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var tm = tm()
        gmtime_r(&seconds, &tm)
        let millis = ts.tv_nsec / 1_000_000
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}

/// Minimal JSON text helpers for log lines and small API bodies.
enum LogJSON {
    static func quote(_ s: String) -> String { JSONValue.quoted(s) }

    static func render(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): return quote(s)
        case .stringConvertible(let c):
            if let n = c as? Int { return String(n) }
            if let d = c as? Double { return d.isFinite ? String(d) : "null" }
            if let b = c as? Bool { return b ? "true" : "false" }
            return quote(c.description)
        case .array(let items): return "[" + items.map(render).joined(separator: ",") + "]"
        case .dictionary(let dict):
            return "{" + dict.keys.sorted().map { "\(quote($0)):\(render(dict[$0]!))" }.joined(separator: ",") + "}"
        }
    }
}
