#if canImport(Glibc)
import Glibc
#endif
import Crypto
import FoundationEssentials

/// Where a list comes from: `[trust_list] source` or the CLI's argument.
public enum TrustListSource: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    /// An http:// or https:// URL; fetched by the Gateway's download function.
    case url(String)

    /// A URL when it starts with http:// or https://, else a file path (relative ones
    /// resolved against `base`).
    public init(_ text: String, relativeTo base: String? = nil) {
        let lower = text.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            self = .url(text)
        } else if text.hasPrefix("/") || base == nil {
            self = .file(text)
        } else {
            self = .file("\(base!)/\(text)")
        }
    }

    public var description: String {
        switch self {
        case .file(let path): path
        case .url(let url): url
        }
    }
}

public enum TrustListFile {
    /// The file's bytes; a file larger than `maxSize` is refused without being read.
    public static func read(path: String, maxSize: Int) throws(TrustListError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TrustListError(.unreadable, "\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw TrustListError(.unreadable, "\(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw TrustListError(.unreadable, "\(path): not a regular file") }
        guard Int(info.st_size) <= maxSize else {
            throw TrustListError(.tooLarge, "\(path): \(info.st_size) bytes is over max_size (\(maxSize))")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TrustListError(.unreadable, "\(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return bytes }
            bytes += buffer[0..<n]
            // The file may grow after fstat.
            if bytes.count > maxSize { throw TrustListError(.tooLarge, "\(path): over max_size (\(maxSize))") }
        }
    }
}

enum Digest {
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
