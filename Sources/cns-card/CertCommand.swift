import ArgumentParser
import Glibc
import SmartCard

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cert", abstract: "Save the card's authentication certificate.")

    enum Format: String, ExpressibleByArgument { case der, pem }

    @OptionGroup var readerOptions: ReaderOptions

    @Option(help: "Where to write the certificate.")
    var out: String

    @Option(help: "der or pem.")
    var format: Format = .der

    func run() throws {
        try runReportingErrors {
            let session = try CardSession(options: readerOptions)
            defer { session.close(afterPIN: false) }
            try session.requireCNS()
            let der = try session.connection.withTransaction { () throws(SmartCardError) in try session.card.readCertificate() }
            let bytes = format == .der ? der : Array(PEM.encode(der, label: "CERTIFICATE").utf8)
            try FileWriter.write(bytes, to: out)
            print("Wrote the certificate (\(der.count) bytes DER) to \(out).")
        }
    }
}

enum FileWriter {
    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }
}

enum PEM {
    static func encode(_ der: [UInt8], label: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var base64: [UInt8] = []
        var index = 0
        while index < der.count {
            let chunk = Array(der[index..<min(index + 3, der.count)])
            let value = (UInt32(chunk[0]) << 16) | (UInt32(chunk.count > 1 ? chunk[1] : 0) << 8) | UInt32(chunk.count > 2 ? chunk[2] : 0)
            base64.append(alphabet[Int((value >> 18) & 63)])
            base64.append(alphabet[Int((value >> 12) & 63)])
            base64.append(chunk.count > 1 ? alphabet[Int((value >> 6) & 63)] : UInt8(ascii: "="))
            base64.append(chunk.count > 2 ? alphabet[Int(value & 63)] : UInt8(ascii: "="))
            index += 3
        }
        var lines: [String] = []
        var offset = 0
        while offset < base64.count {
            lines.append(String(decoding: base64[offset..<min(offset + 64, base64.count)], as: UTF8.self))
            offset += 64
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }
}
