import Crypto
import Foundation
import SwiftASN1
import X509
@testable import TrustList

/// CA certificates made per run (never checked in), and trusted-list XML around them.
enum Fixtures {
    static func certificate(_ name: String, ca: Bool = true, keyCertSign: Bool = true) throws -> [UInt8] {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CountryName("IT"); OrganizationName("Test TSP"); CommonName(name) }
        let extensions = try Certificate.Extensions {
            Critical(ca ? BasicConstraints.isCertificateAuthority(maxPathLength: 0) : BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: !keyCertSign, keyCertSign: keyCertSign, cRLSign: keyCertSign))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-86_400), notValidAfter: Date().addingTimeInterval(86_400 * 365),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func service(_ index: Int, type: String = TrustListPolicy.identityVerification,
                        status: String = TrustListPolicy.recognisedAtNationalLevel, certificates: [[UInt8]?]) -> TrustListService {
        TrustListService(index: index, provider: "TSP \(index)", name: "Service \(index)", type: type, status: status,
                         statusStart: Date(timeIntervalSince1970: 1_600_000_000), certificates: certificates)
    }

    /// An unsigned list with the given services (each: type, status, DER or nil).
    static func unsignedList(sequence: Int = 5, services: [(String, String, [UInt8]?)], extra: String = "") -> [UInt8] {
        let body = services.map { type, status, der in
            let identity = der.map { "<DigitalId><X509Certificate>\(Data($0).base64EncodedString())</X509Certificate></DigitalId>" }
                ?? "<DigitalId><X509SubjectName>CN=x</X509SubjectName></DigitalId>"
            return """
                <TSPService><ServiceInformation><ServiceTypeIdentifier>\(type)</ServiceTypeIdentifier>
                <ServiceName><Name xml:lang="it">Servizio</Name><Name xml:lang="en">Service</Name></ServiceName>
                <ServiceDigitalIdentity>\(identity)</ServiceDigitalIdentity>
                <ServiceStatus>\(status)</ServiceStatus><StatusStartingTime>2020-01-01T00:00:00Z</StatusStartingTime>
                </ServiceInformation></TSPService>
                """
        }.joined()
        return Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#"><SchemeInformation>
            <TSLVersionIdentifier>6</TSLVersionIdentifier><TSLSequenceNumber>\(sequence)</TSLSequenceNumber>
            <SchemeOperatorName><Name xml:lang="en">Operator</Name></SchemeOperatorName><SchemeTerritory>IT</SchemeTerritory>
            <ListIssueDateTime>2026-01-01T00:00:00Z</ListIssueDateTime><NextUpdate><dateTime>2030-01-01T00:00:00Z</dateTime></NextUpdate>
            </SchemeInformation><TrustServiceProviderList><TrustServiceProvider><TSPInformation><TSPName>
            <Name xml:lang="en">Provider</Name></TSPName></TSPInformation><TSPServices>\(body)</TSPServices>
            </TrustServiceProvider></TrustServiceProviderList>\(extra)</TrustServiceStatusList>
            """.utf8)
    }

    /// The real list, never copied into the repository: `$CNS_SHARED_DATA/tsl`, else
    /// `<repo>/../shared/data/tsl`, else `/work/shared/data/tsl` (where the project's machines
    /// keep it when the clone lives elsewhere); testsuite/integration/harness.py looks alike.
    static let realData: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TrustListTests/Fixtures.swift -> repo
        var candidates: [String] = []
        if let shared = ProcessInfo.processInfo.environment["CNS_SHARED_DATA"], !shared.isEmpty { candidates.append(shared + "/tsl") }
        candidates.append(url.deletingLastPathComponent().appendingPathComponent("shared/data/tsl").path)
        candidates.append("/work/shared/data/tsl")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/TSL_IT.xml") } ?? candidates[0]
    }()

    static var realListPresent: Bool { FileManager.default.fileExists(atPath: realData + "/TSL_IT.xml") }

    static func realList() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: realData + "/TSL_IT.xml")))
    }

    static let agidSigner = "ddf02ac377a55fbda3709158a15fe1a10330743413ff1de72a91edb6ee285661"
    /// A moment when the real list (issued 2026-07-27, NextUpdate 2027-01-27) is current.
    static let realListCurrent = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21
}
