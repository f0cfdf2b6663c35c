import FoundationEssentials

/// Splits a file into DER objects: every PEM block with the wanted labels, or the whole
/// file as one DER object when it holds no PEM armour. Strict: a block that does not
/// decode is an error naming the file and the block, so a corrupt bundle is never
/// loaded half-way.
enum PEMFile {
    static func derObjects(path: String, labels: Set<String>) throws(TLSError) -> [[UInt8]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSError(.file, "\(path): cannot read file")
        }
        return try derObjects(bytes: [UInt8](data), labels: labels, origin: path)
    }

    static func derObjects(bytes: [UInt8], labels: Set<String>, origin: String) throws(TLSError) -> [[UInt8]] {
        let begin = Array("-----BEGIN ".utf8)
        guard let firstMarker = bytes.firstRange(of: begin) else {
            // No armour: treat the file as one DER object (the caller parses it).
            guard !bytes.isEmpty else { throw TLSError(.file, "\(origin): file is empty") }
            return [bytes]
        }
        _ = firstMarker
        let text = String(decoding: bytes, as: UTF8.self)
        var result: [[UInt8]] = []
        var index = 0
        var rest = Substring(text)
        while let start = rest.firstRange(of: "-----BEGIN ") {
            index += 1
            guard let labelEnd = rest[start.upperBound...].firstRange(of: "-----") else {
                throw TLSError(.file, "\(origin): PEM block \(index) has a broken BEGIN line")
            }
            let label = String(rest[start.upperBound..<labelEnd.lowerBound])
            let endMarker = "-----END \(label)-----"
            guard let end = rest[labelEnd.upperBound...].firstRange(of: endMarker) else {
                throw TLSError(.file, "\(origin): PEM block \(index) (\(label)) has no END line")
            }
            let body = rest[labelEnd.upperBound..<end.lowerBound]
            rest = rest[end.upperBound...]
            guard labels.contains(label) else { continue }
            let base64 = body.filter { !$0.isWhitespace }
            guard !base64.isEmpty, let der = Data(base64Encoded: String(base64)) else {
                throw TLSError(.file, "\(origin): PEM block \(index) (\(label)) is not valid base64")
            }
            result.append([UInt8](der))
        }
        return result
    }

    /// Regular files of a directory, sorted, skipping hidden files.
    static func directoryFiles(_ path: String) throws(TLSError) -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw TLSError(.file, "\(path): cannot list directory")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }.filter {
            var isDirectory = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory
    }
}

/// Certificates from a PEM file (one or more) or a DER file, in file order.
public enum CertificateFile {
    public static func load(path: String) throws(TLSError) -> [[UInt8]] {
        let objects = try PEMFile.derObjects(path: path, labels: ["CERTIFICATE", "TRUSTED CERTIFICATE"])
        if objects.isEmpty { throw TLSError(.certificate, "\(path): no certificate in file") }
        return objects
    }
}
