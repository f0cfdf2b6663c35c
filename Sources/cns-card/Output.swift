import Glibc

/// Messages for people go to stderr; results (what a script parses) to stdout.
enum Output {
    static func error(_ message: String) {
        let bytes = Array(("cns-card: " + message + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
