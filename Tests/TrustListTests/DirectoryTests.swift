import Foundation
import Testing
import TLS
@testable import TrustList

@Suite struct DirectoryTests {
    func list(sequence: Int, _ certificates: [[UInt8]]) throws -> VerifiedTrustList {
        let cas = certificates.enumerated().map { index, der in
            SelectedCA(certificate: CertificateSummary(der: der)!, provider: "TSP", service: "Service \(index + 1)",
                       serviceType: TrustListPolicy.identityVerification, status: TrustListPolicy.recognisedAtNationalLevel,
                       statusStart: Date(timeIntervalSince1970: 1_600_000_000))
        }
        let header = TrustListHeader(sequenceNumber: sequence, issueDate: Date(), nextUpdate: Date().addingTimeInterval(86_400),
                                     territory: "IT", operatorName: "Operator")
        let signer = SignerInfo(subject: "CN=Signer", sha256: String(repeating: "a", count: 64), notBefore: nil, notAfter: nil, pinned: true)
        return VerifiedTrustList(header: header, signer: signer, decisions: [], cas: cas, listSHA256: String(repeating: "b", count: 64))
    }

    @Test func writesOneFilePerCAAndReportsChanges() throws {
        let root = NSTemporaryDirectory() + "cns-tsl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = TrustListDirectory(path: root + "/trust-list")
        #expect(try directory.manifest() == nil)
        let a = try Fixtures.certificate("A"), b = try Fixtures.certificate("B"), c = try Fixtures.certificate("C")
        let sha = { (der: [UInt8]) in CertificateSummary(der: der)!.sha256 }

        let first = try directory.apply(try list(sequence: 1, [a, b]), source: "/lists/one.xml")
        #expect(Set(first.added.map(\.sha256)) == [sha(a), sha(b)] && first.removed.isEmpty && first.previousSequenceNumber == nil)
        #expect(directory.caFiles() == [sha(a), sha(b)])
        let pem = try String(contentsOfFile: "\(directory.path)/\(sha(a)).pem", encoding: .utf8)
        #expect(try CertificateFile.load(path: "\(directory.path)/\(sha(a)).pem") == [a] && pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        // Someone else's file in the directory is left alone; a stray CA-named file goes.
        _ = FileManager.default.createFile(atPath: "\(directory.path)/README", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: "\(directory.path)/\(String(repeating: "c", count: 64)).pem", contents: Data("x".utf8))

        let second = try directory.apply(try list(sequence: 2, [b, c]), source: "/lists/two.xml")
        #expect(second.added.map(\.sha256) == [sha(c)])
        #expect(Set(second.removed.map(\.sha256)) == [sha(a), String(repeating: "c", count: 64)])
        #expect(second.removed.first { $0.sha256 == sha(a) }?.service == "Service 1")
        #expect(second.kept == 1 && second.previousSequenceNumber == 1)
        #expect(directory.caFiles() == [sha(b), sha(c)])
        #expect(FileManager.default.fileExists(atPath: "\(directory.path)/README"))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!names.contains { $0.hasPrefix(".") })  // no temporary file left behind

        let manifest = try #require(try directory.manifest())
        #expect(manifest.sequenceNumber == 2 && manifest.source == "/lists/two.xml")
        #expect(manifest.entries.map(\.sha256) == [sha(b), sha(c)])
        #expect(manifest.entries[0].service == "Service 1" && manifest.entries[0].statusStart == Date(timeIntervalSince1970: 1_600_000_000))
        #expect(manifest == second.manifest.withImportTimeRounded)
    }

    @Test func aCorruptManifestIsAnErrorNotAFreshStart() throws {
        let root = NSTemporaryDirectory() + "cns-tsl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: "\(root)/trust-list.json", contents: Data("{".utf8))
        #expect(throws: TrustListError(.unreadable)) { try TrustListDirectory(path: root).manifest() }
    }
}

extension TrustListManifest {
    /// The manifest stores whole seconds.
    var withImportTimeRounded: TrustListManifest {
        var copy = self
        copy.importedAt = Date(timeIntervalSince1970: importedAt.timeIntervalSince1970.rounded(.down))
        copy.issueDate = issueDate.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down)) }
        copy.nextUpdate = nextUpdate.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down)) }
        return copy
    }
}
