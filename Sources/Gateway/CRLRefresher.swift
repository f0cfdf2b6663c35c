#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import Metrics
import Posix
import TLS

/// `[trust] crl_refresh*` and `[trust.crl_sources]`: fetching each CA's CRL over plain HTTP
/// into a directory the trust store loads.
///
/// Where a CA's CRL is fetched from, first match wins:
/// 1. `[trust.crl_sources]`, keyed by the CA certificate's SHA-256 (hex, colons optional);
/// 2. for a self-issued root, the http:// CRL distribution point of the root itself;
/// 3. the http:// CRL distribution point of a bundle certificate the CA issued (an
///    intermediate's CDP names its issuer's CRL, RFC 5280 4.2.1.13).
/// A CA with none of these is skipped (logged once). Citizens' certificates are not used:
/// they are only seen during handshakes, and a CRL location must not be attacker-chosen.
public struct CRLRefreshSettings: Sendable, Equatable {
    public var interval: Double = 3600
    public var timeout: Double = 15
    /// Absolute path; appended to `trust.crls` once it exists.
    public var directory: String
    /// Lowercase hex SHA-256 of a CA certificate -> http:// URL of its CRL.
    public var sources: [String: String] = [:]

    /// The `[trust]` keys this file owns (added to the table's allowed keys).
    static let keys: Set<String> = ["crl_refresh", "crl_refresh_interval", "crl_directory", "crl_fetch_timeout", "crl_sources"]

    /// Largest CRL accepted: national CAs publish CRLs of tens of megabytes.
    static let maxBytes = 64 << 20

    /// Reads the refresh keys of `[trust]`; nil when `crl_refresh` is off. Adds the
    /// directory to `trust.crls` when it exists (on the first start the refresher creates
    /// it, then its reload picks it up).
    static func parse(_ trust: [String: ConfigValue], reader: ConfigReader, stateDirectory: String?,
                      trustSources: inout TrustSources) -> CRLRefreshSettings? {
        let enabled = reader.bool(trust, "crl_refresh", path: "trust", default: false)
        let interval = reader.double(trust, "crl_refresh_interval", path: "trust", default: 3600, range: 1...604_800)
        let timeout = reader.double(trust, "crl_fetch_timeout", path: "trust", default: 15, range: 1...300)
        var sources: [String: String] = [:]
        if let value = trust["crl_sources"] {
            if case .table(let entries) = value {
                for (key, url) in entries.sorted(by: { $0.key < $1.key }) {
                    let keyPath = "trust.crl_sources.\"\(key)\""
                    let hex = key.replacing(":", with: "").lowercased()
                    guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                        reader.problem(keyPath, "key must be a CA certificate's SHA-256 fingerprint (64 hex digits, colons optional)")
                        continue
                    }
                    guard case .string(let text) = url else {
                        reader.problem(keyPath, "must be a string, found \(url.typeName)")
                        continue
                    }
                    guard HTTPURL(text) != nil else {
                        reader.problem(keyPath, "\"\(text)\" is not an http:// URL (CRLs are signed: plain HTTP only)")
                        continue
                    }
                    sources[hex] = text
                }
            } else {
                reader.problem("trust.crl_sources", "must be a table of \"<CA SHA-256>\" = \"http://...\", found \(value.typeName)")
            }
        }
        let configured = reader.string(trust, "crl_directory", path: "trust", default: "") ?? ""
        guard enabled else { return nil }

        let directory: String
        if !configured.isEmpty {
            directory = configured.hasPrefix("/") ? configured : "\(reader.baseDirectory)/\(configured)"
        } else if let stateDirectory {
            directory = "\(stateDirectory)/crls"
        } else {
            reader.problem("trust.crl_directory", "needed when crl_refresh = true and [server] state_dir is not set")
            return nil
        }
        var isDirectory = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory else {
                reader.problem("trust.crl_directory", "\(directory): is not a directory")
                return nil
            }
            if !trustSources.crls.contains(directory) { trustSources.crls.append(directory) }
        } else {
            let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory {
                reader.problem("trust.crl_directory", "\(directory): neither it nor its parent directory exists")
                return nil
            }
        }
        return CRLRefreshSettings(interval: interval, timeout: timeout, directory: directory, sources: sources)
    }
}

/// Fetches CRLs on its own thread (never a loop thread: fetches block for seconds),
/// validates each against its CA, replaces the stored one atomically, then asks for the
/// same reload SIGHUP gives: it sends SIGHUP to its own process, which the control thread
/// (the only one with the signal unblocked via sigtimedwait) turns into a reload. So a
/// refresh and an operator's reload can never run at the same time.
final class CRLRefresher: Sendable {
    private let shared: SharedState

    private init(shared: SharedState) { self.shared = shared }

    /// Starts the refresher thread. It reads the current generation's settings each
    /// cycle, so a reload that turns refresh on or off takes effect at the next tick.
    @discardableResult
    static func start(shared: SharedState) -> CRLRefresher {
        let refresher = CRLRefresher(shared: shared)
        Posix.Thread.start(name: "cns-crl-refresh") { refresher.run() }
        return refresher
    }

    private func run() {
        let logger = Logger(label: "cns-gateway")
        var unsourced = Set<String>()
        var lastRun: UInt64? = nil
        var lastFailed = false
        while !shared.isDraining {
            let now = Posix.Process.monotonicNanoseconds() / 1_000_000_000
            if let settings = shared.generation.config.crlRefresh {
                // After a failed download, try again sooner than a whole (hourly) interval.
                let wait = lastFailed ? min(settings.interval, Self.retryAfterFailure) : settings.interval
                if lastRun.map({ now - $0 >= UInt64(wait) }) ?? true {
                    lastRun = now
                    let outcome = refreshAll(settings, logger: logger, unsourced: &unsourced)
                    lastFailed = outcome.failed
                    if outcome.changed {
                        logger.info("crl_refresh_reload", metadata: ["detail": "new CRLs stored; reloading as on SIGHUP"])
                        kill(getpid(), SIGHUP)
                    }
                }
            } else {
                lastRun = nil
            }
            sleep(1)
        }
    }

    static let retryAfterFailure: Double = 300

    /// One pass over every CA: whether a CRL was replaced, and whether a download failed.
    func refreshAll(_ settings: CRLRefreshSettings, logger: Logger, unsourced: inout Set<String>) -> (changed: Bool, failed: Bool) {
        let config = shared.generation.config
        let cas: [BundleCA]
        do {
            cas = try CRLValidation.bundleCAs(config.trust)
        } catch {
            logger.error("crl_refresh", metadata: ["result": "failed", "error": "\(error.reason)"])
            return (false, true)
        }
        if !FileManager.default.fileExists(atPath: settings.directory) {
            do {
                try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: false,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                logger.error("crl_refresh", metadata: ["result": "failed", "error": "\(settings.directory): cannot create: \(error)"])
                return (false, true)
            }
        }
        var changed = false
        var failed = false
        var searchPaths = config.trust.crls
        if !searchPaths.contains(settings.directory) { searchPaths.append(settings.directory) }
        for ca in cas {
            guard let url = Self.source(for: ca, in: cas, settings: settings) else {
                if unsourced.insert(ca.fingerprint).inserted {
                    logger.info("crl_refresh_no_source", metadata: ["ca": "\(ca.subject)", "ca_sha256": "\(ca.fingerprint)"])
                }
                continue
            }
            var fields: Logger.Metadata = ["ca": "\(ca.subject)", "ca_sha256": "\(ca.fingerprint)", "url": "\(url)"]
            let body: [UInt8]
            do {
                body = try CRLFetch.get(url, timeout: settings.timeout, maxBytes: CRLRefreshSettings.maxBytes)
            } catch {
                failed = true
                fields["result"] = "failed"
                fields["error"] = "\(error)"
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "failed")]).increment()
                logger.warning("crl_refresh", metadata: fields)
                continue
            }
            let current = CRLValidation.currentCRL(of: ca, in: searchPaths)
            switch CRLValidation.check(body, ca: ca, current: current) {
            case .unchanged:
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "unchanged")]).increment()
                Self.recordSuccess(ca)
                fields["result"] = "unchanged"
                logger.debug("crl_refresh", metadata: fields)
            case .rejected(let rejection):
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "rejected")]).increment()
                failed = true
                fields["result"] = "rejected"
                fields["reason"] = "\(rejection.code.rawValue)"
                fields["error"] = "\(rejection.detail)"
                fields["detail"] = "the CRL in use stays"
                // An older CRL is usually a lagging mirror; anything else may be an attack.
                if rejection.code == .older || rejection.code == .notNewer {
                    logger.warning("crl_refresh", metadata: fields)
                } else {
                    logger.error("crl_refresh", metadata: fields)
                }
            case .accepted(let crl):
                let file = "\(settings.directory)/\(ca.fingerprint).crl"
                do {
                    try AtomicFile.write(crl.der, to: file, mode: 0o644)
                } catch {
                    failed = true
                    fields["result"] = "failed"
                    fields["error"] = "\(file): \(error)"
                    logger.error("crl_refresh", metadata: fields)
                    continue
                }
                changed = true
                Counter(label: "cns_crl_refresh_total", dimensions: [("result", "updated")]).increment()
                Self.recordSuccess(ca)
                fields["result"] = "updated"
                fields["file"] = "\(file)"
                fields["crl_number"] = "\(crl.crlNumber ?? "none")"
                fields["entries"] = .stringConvertible(crl.entries)
                if let next = crl.nextUpdate { fields["next_update"] = "\(next)" }
                logger.info("crl_refresh", metadata: fields)
            }
        }
        return (changed, failed)
    }

    /// For alerting: a CA whose CRL has not been fetched successfully for a while.
    private static func recordSuccess(_ ca: BundleCA) {
        Gauge(label: "cns_crl_refresh_last_success_timestamp_seconds",
              dimensions: [("issuer", ca.subject), ("ca_sha256", ca.fingerprint)]).record(Date().timeIntervalSince1970)
    }

    static func source(for ca: BundleCA, in cas: [BundleCA], settings: CRLRefreshSettings) -> String? {
        if let explicit = settings.sources[ca.fingerprint] { return explicit }
        if ca.selfIssued, let own = ca.distributionPoints.first { return own }
        return cas.first { $0.fingerprint != ca.fingerprint && $0.issuers.contains(ca.fingerprint) && !$0.distributionPoints.isEmpty }?
            .distributionPoints.first
    }
}

/// An http:// URL split for a GET: host (brackets removed), port, path with query.
struct HTTPURL: Equatable {
    var host: String
    var port: UInt16
    var path: String

    init?(_ text: String) {
        guard text.lowercased().hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let remainder = rest.dropFirst(authority.count)
        path = remainder.isEmpty ? "/" : (remainder.hasPrefix("?") ? "/" + remainder : String(remainder))
        guard !authority.isEmpty, !authority.utf8.contains(UInt8(ascii: "@")), !path.contains(where: { $0 == " " || $0.isNewline }) else { return nil }
        var hostPart = Substring(authority)
        var portPart: Substring? = nil
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { return nil }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty { return nil }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty else { return nil }
        host = String(hostPart)
        if let portPart {
            guard !portPart.isEmpty, portPart.allSatisfy(\.isASCII), portPart.allSatisfy(\.isNumber),
                  let value = UInt16(portPart), value > 0 else { return nil }
            port = value
        } else {
            port = 80
        }
    }
}

/// Why a fetch failed, for the log line.
struct CRLFetchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A deliberately small blocking HTTP/1.1 GET over POSIX sockets: one request per
/// connection, no redirects, no TLS (CRLs are signed; RFC 5280 4.2.1.13 publishes them
/// over HTTP), a deadline for the whole exchange and a size cap.
enum CRLFetch {
    static func get(_ urlText: String, timeout: Double, maxBytes: Int) throws(CRLFetchError) -> [UInt8] {
        guard let url = HTTPURL(urlText) else { throw CRLFetchError("not an http:// URL") }
        let deadline = Date().addingTimeInterval(timeout)
        let fd = try connect(url, deadline: deadline)
        defer { close(fd) }
        let hostHeader = url.host.utf8.contains(UInt8(ascii: ":")) ? "[\(url.host)]" : url.host
        let request = "GET \(url.path) HTTP/1.1\r\nHost: \(hostHeader)\(url.port == 80 ? "" : ":\(url.port)")\r\n"
            + "User-Agent: cns-gateway\r\nAccept: application/pkix-crl, application/x-pkcs7-crl, */*\r\n"
            + "Connection: close\r\n\r\n"
        try send(fd, Array(request.utf8), deadline: deadline)
        let response = try receiveAll(fd, deadline: deadline, maxBytes: maxBytes + 65_536)
        return try parseResponse(response, maxBytes: maxBytes)
    }

    private static func remainingMilliseconds(_ deadline: Date) throws(CRLFetchError) -> Int32 {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { throw CRLFetchError("timed out") }
        return Int32(min(left * 1000, Double(Int32.max)).rounded(.up))
    }

    private static func wait(_ fd: Int32, for events: Int16, deadline: Date) throws(CRLFetchError) {
        while true {
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&descriptor, 1, try remainingMilliseconds(deadline))
            if n > 0 { return }
            if n == 0 { throw CRLFetchError("timed out") }
            if errno != EINTR { throw CRLFetchError("poll: \(String(cString: strerror(errno)))") }
        }
    }

    private static func connect(_ url: HTTPURL, deadline: Date) throws(CRLFetchError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard status == 0, let list else { throw CRLFetchError("cannot resolve \(url.host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { lastError = "socket: \(String(cString: strerror(errno)))"; continue }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastError = "connect: \(String(cString: strerror(errno)))"
                close(fd)
                continue
            }
            do {
                try wait(fd, for: Int16(POLLOUT), deadline: deadline)
            } catch {
                close(fd)
                throw error
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError == 0 { return fd }
            lastError = "connect: \(String(cString: strerror(soError)))"
            close(fd)
        }
        throw CRLFetchError("cannot connect to \(url.host):\(url.port): \(lastError)")
    }

    private static func send(_ fd: Int32, _ bytes: [UInt8], deadline: Date) throws(CRLFetchError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { try wait(fd, for: Int16(POLLOUT), deadline: deadline); continue }
            throw CRLFetchError("send: \(String(cString: strerror(errno)))")
        }
    }

    private static func receiveAll(_ fd: Int32, deadline: Date, maxBytes: Int) throws(CRLFetchError) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                data += buffer[0..<n]
                if data.count > maxBytes { throw CRLFetchError("response larger than \(maxBytes) bytes") }
                // A server may keep the connection open despite "Connection: close".
                if isComplete(data) { return data }
                continue
            }
            if n == 0 { return data }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { try wait(fd, for: Int16(POLLIN), deadline: deadline); continue }
            throw CRLFetchError("recv: \(String(cString: strerror(errno)))")
        }
    }

    /// True once the head and a Content-Length body, or a chunked body's last chunk, arrived.
    static func isComplete(_ data: [UInt8]) -> Bool {
        guard let headEnd = data.firstRange(of: [13, 10, 13, 10]) else { return false }
        let head = String(decoding: data[..<headEnd.lowerBound], as: UTF8.self).lowercased()
        for line in head.components(separatedBy: "\r\n") {
            if line.hasPrefix("content-length:"), let length = Int(line.dropFirst("content-length:".count).trimmingWhitespace()) {
                return data.count - headEnd.upperBound >= length
            }
            if line.hasPrefix("transfer-encoding:"), line.firstRange(of: "chunked") != nil {
                return data.count - headEnd.upperBound >= 5 && Array(data.suffix(5)) == Array("0\r\n\r\n".utf8)
            }
        }
        return false
    }

    /// Status 200 only; body by Content-Length, chunked, or up to the close.
    static func parseResponse(_ data: [UInt8], maxBytes: Int) throws(CRLFetchError) -> [UInt8] {
        guard let headEnd = data.firstRange(of: [13, 10, 13, 10]) else { throw CRLFetchError("no complete response head") }
        let head = String(decoding: data[..<headEnd.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw CRLFetchError("malformed status line")
        }
        guard status == 200 else { throw CRLFetchError("HTTP status \(status)") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingWhitespace()
        }
        var body = Array(data[headEnd.upperBound...])
        if headers["transfer-encoding"]?.lowercased().firstRange(of: "chunked") != nil {
            body = try dechunk(body)
        } else if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText), length >= 0 else { throw CRLFetchError("bad Content-Length") }
            guard body.count >= length else { throw CRLFetchError("connection closed after \(body.count) of \(length) bytes") }
            body = Array(body.prefix(length))
        }
        guard !body.isEmpty else { throw CRLFetchError("empty body") }
        guard body.count <= maxBytes else { throw CRLFetchError("CRL larger than \(maxBytes) bytes") }
        return body
    }

    private static func dechunk(_ input: [UInt8]) throws(CRLFetchError) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while true {
            guard let lineEnd = input[index...].firstRange(of: [13, 10]) else { throw CRLFetchError("truncated chunk size") }
            let sizeText = String(decoding: input[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingWhitespace(), radix: 16), size >= 0 else {
                throw CRLFetchError("bad chunk size")
            }
            index = lineEnd.upperBound
            if size == 0 { return output }
            guard input.count - index >= size + 2 else { throw CRLFetchError("truncated chunk") }
            output += input[index..<(index + size)]
            index += size + 2
        }
    }
}
